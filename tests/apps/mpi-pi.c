/* An MPI job: two ranks integrate 4/(1+x^2) over their halves of [0,1] in
 * steps, reduce, and rank 0 prints the running estimate of pi. */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int rank, size;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	const long n = 200 * 100000L;
	double local = 0;
	for (int s = 0; s < 200; s++) {
		for (long i = s * 100000L + rank; i < (s + 1) * 100000L; i += size) {
			double x = (i + 0.5) / n;
			local += 4.0 / (1.0 + x * x);
		}
		double sum = 0;
		MPI_Reduce(&local, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
		if (rank == 0) {
			printf("step %d pi %.15f\n", s + 1, sum / n);
			fflush(stdout);
		}
		usleep(50000);
	}
	if (rank == 0)
		printf("done\n");
	MPI_Finalize();
	return 0;
}
