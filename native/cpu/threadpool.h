// A persistent pool of worker threads shared by every heavy CPU kernel.
// Size: HGAD_NUM_THREADS when set, else the hardware concurrency; setThreadCount
// changes it at run time. parallelFor blocks until every chunk ran; a call made
// while the pool is busy (another JS thread, or a nested call) runs serially on
// the caller so that concurrent users never deadlock.
#pragma once
#include <cstdint>
#include <functional>

namespace hgad {

int threadCount();
void setThreadCount(int n);

// Splits [0, n) into at most threadCount() contiguous ranges of at least
// `grain` items and runs fn(begin, end) on each.
void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Runs fn(task) for task in [0, tasks) with dynamic scheduling (tasks of
// uneven cost, e.g. GEMM tiles).
void parallelTasks(int64_t tasks, const std::function<void(int64_t)>& fn);

}  // namespace hgad
