// The arguments shared by the CPU and CUDA gemm wrappers:
// (transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu, ...),
// checked, with the number of elements each operand must hold.
#pragma once
#include <napi.h>

#include <algorithm>
#include <string>

#include "args.h"
#include "gemm.h"

namespace hgad::napi {

struct GemmArgs {
  GemmShape s;
  double beta = 0;
  bool relu = false;
  int64_t needA = 0, needB = 0, needC = 0;

  explicit GemmArgs(const Napi::CallbackInfo& info) {
    s.transA = getBool(info, 0, "transA");
    s.transB = getBool(info, 1, "transB");
    s.M = getInt(info, 2, "M");
    s.N = getInt(info, 3, "N");
    s.K = getInt(info, 4, "K");
    s.lda = getInt(info, 6, "lda", 1);
    s.ldb = getInt(info, 8, "ldb", 1);
    s.ldc = getInt(info, 11, "ldc", 1);
    beta = getNumber(info, 9, "beta");
    relu = getBool(info, 13, "relu");
    const int64_t aRows = s.transA ? s.K : s.M, aCols = s.transA ? s.M : s.K;
    const int64_t bRows = s.transB ? s.N : s.K, bCols = s.transB ? s.K : s.N;
    checkLd(info.Env(), "lda", s.lda, aCols);
    checkLd(info.Env(), "ldb", s.ldb, bCols);
    checkLd(info.Env(), "ldc", s.ldc, s.N);
    needA = extent(aRows, aCols, s.lda);
    needB = extent(bRows, bCols, s.ldb);
    needC = extent(s.M, s.N, s.ldc);
  }

 private:
  static void checkLd(Napi::Env env, const char* name, int64_t ld, int64_t rowLength) {
    if (ld < std::max<int64_t>(1, rowLength))
      throwRange(env, "a leading dimension >= " + std::to_string(rowLength), name, std::to_string(ld));
  }
  // Elements spanned by `rows` rows of `cols` values at stride `ld`.
  static int64_t extent(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }
};

}  // namespace hgad::napi
