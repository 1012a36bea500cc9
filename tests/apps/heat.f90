! A 1-D heat equation in Fortran: each step prints the rod's energy and the
! temperature at three points. Usage: heat-fortran (200 steps)
program heat
  use iso_c_binding
  implicit none
  interface
    integer(c_int) function usleep(us) bind(c, name='usleep')
      import :: c_int
      integer(c_int), value :: us
    end function
  end interface
  integer, parameter :: n = 20000, steps = 200
  real(8) :: t(n), tn(n)
  integer :: s, k, rc
  t = 0d0
  t(n / 2) = 1d6
  do s = 1, steps
    do k = 1, 20
      tn(2:n-1) = t(2:n-1) + 0.25d0 * (t(1:n-2) - 2d0 * t(2:n-1) + t(3:n))
      t(2:n-1) = tn(2:n-1)
      t(1) = 100d0
    end do
    write (*, '(a,i0,4(1x,es20.12))') 'step ', s, sum(t), t(n / 2), t(n / 4), t(10)
    flush (6)
    rc = usleep(50000_c_int) ! paces the job, as heat.c does
  end do
  write (*, '(a)') 'done'
end program heat
