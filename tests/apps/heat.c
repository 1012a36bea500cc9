/* A 2-D heat diffusion (Jacobi), single-threaded or, built with -fopenmp,
 * with OpenMP threads. Each step prints the grid's sum and centre value; the
 * output is the same for any number of threads (every cell is computed
 * alone, the sum serially). Usage: heat [STEPS] */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N 192
static double u[N][N], w[N][N];

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 200;
	u[N / 2][N / 2] = 1e6;
	for (int s = 1; s <= steps; s++) {
		for (int k = 0; k < 10; k++) {
#pragma omp parallel for schedule(static)
			for (int i = 1; i < N - 1; i++)
				for (int j = 1; j < N - 1; j++)
					w[i][j] = u[i][j] + 0.2 * (u[i - 1][j] + u[i + 1][j] + u[i][j - 1] + u[i][j + 1] - 4 * u[i][j]);
#pragma omp parallel for schedule(static)
			for (int i = 1; i < N - 1; i++)
				for (int j = 1; j < N - 1; j++)
					u[i][j] = w[i][j];
			u[N / 2][N / 2] += 1e3;
		}
		double sum = 0;
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++)
				sum += u[i][j];
		printf("step %d sum %.9e centre %.9e edge %.9e\n", s, sum, u[N / 2][N / 2], u[N / 2][N / 8]);
		fflush(stdout);
		usleep(50000); /* paces the job: a checkpoint lands midway on any machine */
	}
	printf("done\n");
	return 0;
}
