// 64 threads that meet at a barrier, count under a mutex, and hand a token
// around with a condition variable. Prints a summary; exit 0 if all agree.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define N 64
#define ITERS 1000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static long counter;
static int token;  // whose turn it is in the ring
static int ring_done;

static void* worker(void* arg) {
  long id = (long)arg;
  pthread_barrier_wait(&barrier);
  for (int i = 0; i < ITERS; i++) {
    pthread_mutex_lock(&mu);
    counter++;
    pthread_mutex_unlock(&mu);
  }
  pthread_barrier_wait(&barrier);
  // Pass a token around the ring twice.
  for (int round = 0; round < 2; round++) {
    pthread_mutex_lock(&mu);
    while (token != id) pthread_cond_wait(&cv, &mu);
    token = (token + 1) % N;
    ring_done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
  return (void*)(id * 2);
}

int main(void) {
  pthread_t th[N];
  pthread_barrier_init(&barrier, NULL, N);
  for (long i = 0; i < N; i++) {
    if (pthread_create(&th[i], NULL, worker, (void*)i) != 0) {
      perror("pthread_create");
      return 1;
    }
  }
  long sum = 0;
  for (int i = 0; i < N; i++) {
    void* r;
    pthread_join(th[i], &r);
    sum += (long)r;
  }
  printf("threads=%d counter=%ld ring=%d sum=%ld\n", N, counter, ring_done, sum);
  return counter == (long)N * ITERS && ring_done == 2 * N ? 0 : 1;
}
