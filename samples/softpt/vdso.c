/* Software-PT sample: clock_gettime runs in the vDSO, code no file on disk holds. Prints "vdso ok"; exits 0. */
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 4; i++) clock_gettime(CLOCK_MONOTONIC, &b);
    printf("vdso %s\n", (b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec)) ? "ok" : "backwards");
    return 0;
}
