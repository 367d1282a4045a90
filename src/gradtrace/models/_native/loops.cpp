// The time loops of gradtrace's hand-written BPTT (gradtrace/models/bptt.py), compiled.
//
// Python allocates every buffer and does what is one product over all steps at once (the weight gradients);
// these functions run the loops over time that bptt.py would otherwise run op by op from Python, projecting
// each step's input drives and forming the backward's gate factors as they go. Each one fills buffers in
// place, with the layout bptt.py documents: time-major, (K, T, B, width) or (K, T + 1, B, H) for the states
// with h_0 at index 0, all contiguous, so the slice of member k at step t is one row-major B x width block.
//
// The per-step matrix products call the BLAS that ATen itself calls for them (MKL's sgemm/dgemm, which
// libtorch exports), one call per member and step, with no dispatcher, no tensor and no allocation in
// between; where libtorch exports no such BLAS they go through ATen's addmm. The transcendental functions
// (tanh, sigmoid, GELU) go through ATen's vectorized operators on one member's step; products and sums are
// plain loops that apply the same operations in the same order as the ATen calls they replace. The results
// equal the Python loops' to rounding (in float32 the LSTM and GRU differ by about 1e-7 relative, the vector
// kernels splitting the work differently); the float64 equivalence tests hold both to the same tolerances.
// Only CPU tensors of float32 or float64 come here.

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>
#include <string>
#include <type_traits>

namespace {

using at::Tensor;

// The BLAS that ATen calls (MKL's Fortran interface, LP64), when libtorch exports it. Weak: a torch
// built on another BLAS leaves them null and the products go through ATen's addmm instead.
extern "C" {
void SGEMM(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
           const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
           const int* ldc) __attribute__((weak));
void DGEMM(const char* transa, const char* transb, const int* m, const int* n, const int* k, const double* alpha,
           const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
           const int* ldc) __attribute__((weak));
}

template <typename scalar_t>
void blas_gemm(const char* transa, const char* transb, const int* m, const int* n, const int* k,
               const scalar_t* alpha, const scalar_t* a, const int* lda, const scalar_t* b, const int* ldb,
               const scalar_t* beta, scalar_t* c, const int* ldc);

template <>
void blas_gemm<float>(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                      const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                      const float* beta, float* c, const int* ldc) {
  SGEMM(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <>
void blas_gemm<double>(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
                       const double* beta, double* c, const int* ldc) {
  DGEMM(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <typename scalar_t>
bool has_blas() {
  return std::is_same_v<scalar_t, float> ? SGEMM != nullptr : DGEMM != nullptr;
}

// C = op(A) op(B) + beta C for row-major matrices: an M x N result, inner size L; beta 0 never reads C.
// BLAS is column-major, so this computes the transpose, Cᵀ = op(B)ᵀ op(A)ᵀ, with the same flags.
template <typename scalar_t>
inline void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t L, scalar_t beta,
                 const scalar_t* A, int64_t lda, const scalar_t* B, int64_t ldb, scalar_t* C, int64_t ldc) {
  if (has_blas<scalar_t>()) {
    const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(L);
    const int ld_b = static_cast<int>(ldb), ld_a = static_cast<int>(lda), ld_c = static_cast<int>(ldc);
    const scalar_t one = 1;
    blas_gemm<scalar_t>(trans_b ? "T" : "N", trans_a ? "T" : "N", &m, &n, &k, &one, B, &ld_b, A, &ld_a, &beta, C,
                        &ld_c);
    return;
  }
  const auto options = at::TensorOptions().dtype(c10::CppTypeToScalarType<scalar_t>::value);
  auto matrix = [&](const scalar_t* data, bool trans, int64_t rows, int64_t cols, int64_t ld) {
    // op(X) is rows x cols; X itself is stored row-major with leading dimension ld.
    at::Tensor stored = trans ? at::from_blob(const_cast<scalar_t*>(data), {cols, rows}, {ld, 1}, options)
                              : at::from_blob(const_cast<scalar_t*>(data), {rows, cols}, {ld, 1}, options);
    return trans ? stored.t() : stored;
  };
  at::Tensor out = at::from_blob(C, {M, N}, {ldc, 1}, options);
  at::addmm_out(out, out, matrix(A, trans_a, M, L, lda), matrix(B, trans_b, L, N, ldb), beta, 1);
}

void check_buffer(const Tensor& t, const char* name, const Tensor& like) {
  TORCH_CHECK(t.is_contiguous(), "gradtrace native loop: `", name, "` must be contiguous");
  TORCH_CHECK(t.device().is_cpu(), "gradtrace native loop: `", name, "` must be on the CPU");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), "gradtrace native loop: `", name, "` has dtype ",
              t.scalar_type(), ", expected ", like.scalar_type());
}

void check_buffers(const Tensor& like, std::initializer_list<std::pair<Tensor, const char*>> buffers) {
  for (const auto& [t, name] : buffers) check_buffer(t, name, like);
}

void check_float(const Tensor& t) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
              "gradtrace native loop: float32 or float64 only, got ", t.scalar_type());
}

// The input drives of one step, projected inside the loop: for member k at step t, the B rows of
// `slot` (row stride ld) become bias + x_t W_inᵀ, as the product ATen's baddbmm makes (the bias
// broadcast into the result, then the product added to it). x (K, T·B, I) time-major, its rows
// contiguous and its member stride 0 when the members share the inputs; w_in (K, G, I); bias (K, G).
// An empty x means the caller filled the drives itself.
template <typename scalar_t>
struct Projection {
  const scalar_t* x = nullptr;
  const scalar_t* w = nullptr;
  const scalar_t* b = nullptr;
  int64_t member = 0, B = 0, I = 0, G = 0;

  Projection(const Tensor& inputs, const Tensor& w_in, const Tensor& bias, int64_t batch) {
    if (inputs.numel() == 0) return;
    TORCH_CHECK(inputs.dim() == 3 && inputs.stride(2) == 1 && inputs.stride(1) == inputs.size(2),
                "gradtrace native loop: `inputs` must be (K, T·B, I) with contiguous rows");
    TORCH_CHECK(inputs.scalar_type() == w_in.scalar_type() && inputs.scalar_type() == bias.scalar_type(),
                "gradtrace native loop: `inputs`, `W_in` and `bias` must share one dtype");
    TORCH_CHECK(w_in.is_contiguous() && bias.is_contiguous(), "gradtrace native loop: `W_in` and `bias` must be contiguous");
    x = inputs.data_ptr<scalar_t>();
    w = w_in.data_ptr<scalar_t>();
    b = bias.data_ptr<scalar_t>();
    member = inputs.stride(0);
    B = batch;
    I = inputs.size(2);
    G = w_in.size(1);
  }

  explicit operator bool() const { return x != nullptr; }

  void into(scalar_t* slot, int64_t ld, int64_t k, int64_t t) const {
    const scalar_t* bias = b + k * G;
    for (int64_t r = 0; r < B; ++r) std::copy(bias, bias + G, slot + r * ld);
    gemm<scalar_t>(false, true, B, G, I, scalar_t(1), x + k * member + t * B * I, I, w + k * G * I, I, slot, ld);
  }
};

// ---------------------------------------------------------------------------------------------
// Elman: h_t = φ(d_t + h_{t−1} W_recᵀ)
// ---------------------------------------------------------------------------------------------

// Apply φ to one member's step (a contiguous B x H block). From-output activations work in place on h
// (which holds the pre-activation); "gelu" and "step" read `pre` and write h.
void elman_activate(const std::string& activation, Tensor h, const Tensor& pre, double leaky_slope) {
  if (activation == "tanh") {
    h.tanh_();
  } else if (activation == "sigmoid") {
    h.sigmoid_();
  } else if (activation == "relu") {
    h.relu_();
  } else if (activation == "leaky_relu") {
    at::leaky_relu_(h, leaky_slope);
  } else if (activation == "linear") {
  } else if (activation == "gelu") {
    at::gelu_out(h, pre);
  } else if (activation == "step") {
    // (a > 0) + 0·a, as gradtrace.activations computes it (0·a keeps a NaN or an infinity's NaN).
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "gradtrace_step", [&] {
      const int64_t n = h.numel();  // one contiguous block
      scalar_t* out = h.data_ptr<scalar_t>();
      const scalar_t* a = pre.data_ptr<scalar_t>();
      for (int64_t j = 0; j < n; ++j) {
        out[j] = (a[j] > scalar_t(0) ? scalar_t(1) : scalar_t(0)) + scalar_t(0) * a[j];
      }
    });
  } else {
    TORCH_CHECK(false, "gradtrace native loop: unknown Elman activation '", activation, "'");
  }
}

// path (K, T + 1, B, H): h_0 at 0 and, for a from-output activation, the drives at 1..T.
// pre (K, T, B, H): the drives, for "gelu" and "step" (else an empty tensor). With `inputs`, `w_in`
// and `bias` (see Projection) the loop projects each step's drives into those slots itself. w_rec_t (K, H, H): W_recᵀ,
// contiguous (BLAS multiplies by a stored transpose more slowly at these sizes).
void elman_forward(Tensor path, Tensor pre, const Tensor& w_rec_t, std::string activation, double leaky_slope,
                   const Tensor& inputs, const Tensor& w_in, const Tensor& bias) {
  check_float(path);
  check_buffer(path, "path", path);
  check_buffer(w_rec_t, "W_rec_T", path);
  const bool from_pre = activation == "gelu" || activation == "step";
  if (from_pre) check_buffer(pre, "pre", path);
  const int64_t K = path.size(0), T = path.size(1) - 1, B = path.size(2), H = path.size(3);
  AT_DISPATCH_FLOATING_TYPES(path.scalar_type(), "gradtrace_elman_forward", [&] {
    scalar_t* h = path.data_ptr<scalar_t>();
    const scalar_t* w = w_rec_t.data_ptr<scalar_t>();
    scalar_t* a = from_pre ? pre.data_ptr<scalar_t>() : nullptr;
    const Projection<scalar_t> project(inputs, w_in, bias, B);
    // Member by member, all steps of one member together: its W_rec stays in cache for the whole window.
    for (int64_t k = 0; k < K; ++k) {
      const Tensor path_k = path.select(0, k), pre_k = from_pre ? pre.select(0, k) : Tensor();
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* previous = h + (k * (T + 1) + t) * B * H;
        scalar_t* target = from_pre ? a + (k * T + t) * B * H : h + (k * (T + 1) + t + 1) * B * H;
        if (project) project.into(target, H, k, t);
        gemm<scalar_t>(false, false, B, H, H, scalar_t(1), previous, H, w + k * H * H, H, target, H);
        elman_activate(activation, path_k.select(0, t + 1), from_pre ? pre_k.select(0, t) : Tensor(), leaky_slope);
      }
    }
  });
}

// errors (K, T, B, H): δ_t = ∂L/∂h_t, holding the outputs' gradients when `adds` (else undefined)
// and δ_{T−1} complete. Fills errors and pre_grad (a′_t = δ_t ⊙ φ′). `slope` (K, T, B, H) holds φ′(a_t),
// except for "tanh" and "sigmoid", where it is empty and φ′ is read off the states in `path`
// (K, T + 1, B, H) as the Python backward rounds it: 1 − h², (1 − h) h.
void elman_backward(Tensor errors, Tensor pre_grad, const Tensor& slope, const Tensor& path, const Tensor& w_rec,
                    std::string activation, bool adds) {
  check_float(errors);
  check_buffer(errors, "errors", errors);
  check_buffer(pre_grad, "pre_grad", errors);
  check_buffer(path, "path", errors);
  check_buffer(w_rec, "W_rec", errors);
  const int kind = activation == "tanh" ? 1 : activation == "sigmoid" ? 2 : 0;
  if (kind == 0) check_buffer(slope, "slope", errors);
  const int64_t K = errors.size(0), T = errors.size(1), B = errors.size(2), H = errors.size(3);
  const int64_t n = B * H;
  AT_DISPATCH_FLOATING_TYPES(errors.scalar_type(), "gradtrace_elman_backward", [&] {
    scalar_t* delta = errors.data_ptr<scalar_t>();
    scalar_t* a = pre_grad.data_ptr<scalar_t>();
    const scalar_t* phi = kind == 0 ? slope.data_ptr<scalar_t>() : nullptr;
    const scalar_t* h = path.data_ptr<scalar_t>();
    const scalar_t* w = w_rec.data_ptr<scalar_t>();
    const scalar_t one = 1;
    for (int64_t k = 0; k < K; ++k) {  // member by member: its W_rec stays in cache
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t at_t = (k * T + t) * n;
        if (t < T - 1) {
          gemm<scalar_t>(false, false, B, H, H, adds ? scalar_t(1) : scalar_t(0), a + at_t + n, H,
                         w + k * H * H, H, delta + at_t, H);
        }
        const scalar_t* d = delta + at_t;
        scalar_t* out = a + at_t;
        const scalar_t* h_t = h + (k * (T + 1) + t + 1) * n;
        if (kind == 1) {
          for (int64_t j = 0; j < n; ++j) out[j] = d[j] * (one - h_t[j] * h_t[j]);
        } else if (kind == 2) {
          for (int64_t j = 0; j < n; ++j) out[j] = d[j] * ((one - h_t[j]) * h_t[j]);
        } else {
          for (int64_t j = 0; j < n; ++j) out[j] = d[j] * phi[at_t + j];
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// LSTM (gate order i, f, g, o)
// ---------------------------------------------------------------------------------------------

// gates (K, T, B, 4H): the drives (or, with `inputs`, `w_in` and `bias`, projected here step by step);
// on return i, f, σ(g) (unused), o. candidate, squashed (K, T, B, H):
// tanh(g_t), tanh(c_t). path, cells (K, T + 1, B, H): h_0, c_0 at index 0. w_rec_t (K, H, 4H): W_recᵀ.
void lstm_forward(Tensor gates, Tensor candidate, Tensor squashed, Tensor path, Tensor cells, const Tensor& w_rec_t,
                  const Tensor& inputs, const Tensor& w_in, const Tensor& bias) {
  check_float(gates);
  check_buffers(gates, {{gates, "gates"}, {candidate, "candidate"}, {squashed, "squashed"},
                         {path, "path"}, {cells, "cells"}, {w_rec_t, "W_rec_T"}});
  const int64_t K = gates.size(0), T = gates.size(1), B = gates.size(2), G = gates.size(3), H = G / 4;
  const int64_t n = B * H;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gradtrace_lstm_forward", [&] {
    scalar_t* z = gates.data_ptr<scalar_t>();
    scalar_t* h = path.data_ptr<scalar_t>();
    scalar_t* c = cells.data_ptr<scalar_t>();
    const scalar_t* g = candidate.data_ptr<scalar_t>();
    const scalar_t* tc = squashed.data_ptr<scalar_t>();
    const scalar_t* w = w_rec_t.data_ptr<scalar_t>();
    const Projection<scalar_t> project(inputs, w_in, bias, B);
    for (int64_t k = 0; k < K; ++k) {  // member by member: its W_rec stays in cache for the whole window
      const Tensor gates_k = gates.select(0, k), candidate_k = candidate.select(0, k);
      const Tensor squashed_k = squashed.select(0, k), cells_k = cells.select(0, k);
      for (int64_t t = 0; t < T; ++t) {
        scalar_t* zk = z + (k * T + t) * B * G;
        if (project) project.into(zk, G, k, t);
        gemm<scalar_t>(false, false, B, G, H, scalar_t(1), h + (k * (T + 1) + t) * n, H, w + k * G * H, G, zk, G);
        Tensor step = gates_k.select(0, t);
        Tensor candidate_t = candidate_k.select(0, t);
        at::tanh_out(candidate_t, step.narrow(-1, 2 * H, H));
        step.sigmoid_();
        const scalar_t* gk = g + (k * T + t) * n;
        const scalar_t* c_old = c + (k * (T + 1) + t) * n;
        scalar_t* c_new = c + (k * (T + 1) + t + 1) * n;
        for (int64_t b = 0; b < B; ++b) {  // c_t = f ⊙ c_{t−1} + i ⊙ g
          const scalar_t* i = zk + b * G;
          const scalar_t* f = i + H;
          for (int64_t j = 0; j < H; ++j) c_new[b * H + j] = f[j] * c_old[b * H + j] + i[j] * gk[b * H + j];
        }
        Tensor squashed_t = squashed_k.select(0, t);
        at::tanh_out(squashed_t, cells_k.select(0, t + 1));
        const scalar_t* tk = tc + (k * T + t) * n;
        scalar_t* h_new = h + (k * (T + 1) + t + 1) * n;
        for (int64_t b = 0; b < B; ++b) {  // h_t = o ⊙ tanh(c_t)
          const scalar_t* o = zk + b * G + 3 * H;
          for (int64_t j = 0; j < H; ++j) h_new[b * H + j] = o[j] * tk[b * H + j];
        }
      }
    }
  });
}

// errors (2, K, T, B, H): (δh_t, δc_t), holding the outputs' gradients where h_adds / c_adds and the
// complete δh_{T−1}, δc_{T−1}. pre_grad (K, T, B, 4H) gets z′_t. gates, candidate, squashed, cells as
// lstm_forward left them. The factors that do not depend on the error are formed here, element by
// element, with the products of bptt.py's Python backward in the same order (so the same rounding):
// δh → o′: (tanh c · o)(1 − o); δh → δc: o (1 − tanh² c); δc → (i′, f′, g′): g · i(1 − i),
// c_{t−1} · f(1 − f), i (1 − g²).
void lstm_backward(Tensor errors, Tensor pre_grad, const Tensor& gates, const Tensor& candidate,
                   const Tensor& squashed, const Tensor& cells, const Tensor& w_rec, bool h_adds, bool c_adds) {
  check_float(errors);
  check_buffers(errors, {{errors, "errors"}, {pre_grad, "pre_grad"}, {gates, "gates"}, {candidate, "candidate"},
                         {squashed, "squashed"}, {cells, "cells"}, {w_rec, "W_rec"}});
  const int64_t K = errors.size(1), T = errors.size(2), B = errors.size(3), H = errors.size(4), G = 4 * H;
  const int64_t n = B * H;
  AT_DISPATCH_FLOATING_TYPES(errors.scalar_type(), "gradtrace_lstm_backward", [&] {
    scalar_t* dh = errors.data_ptr<scalar_t>();
    scalar_t* dc = dh + K * T * n;
    scalar_t* dz = pre_grad.data_ptr<scalar_t>();
    const scalar_t* z = gates.data_ptr<scalar_t>();
    const scalar_t* cand = candidate.data_ptr<scalar_t>();
    const scalar_t* sq = squashed.data_ptr<scalar_t>();
    const scalar_t* c = cells.data_ptr<scalar_t>();
    const scalar_t* w = w_rec.data_ptr<scalar_t>();
    const scalar_t one = 1;
    for (int64_t k = 0; k < K; ++k) {  // member by member: its W_rec stays in cache
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t at_t = (k * T + t) * n;
        scalar_t* dz_t = dz + (k * T + t) * B * G;
        const scalar_t* z_t = z + (k * T + t) * B * G;
        const scalar_t* c_prev = c + (k * (T + 1) + t) * n;
        if (t < T - 1) {
          gemm<scalar_t>(false, false, B, H, G, h_adds ? scalar_t(1) : scalar_t(0), dz_t + B * G, G,
                         w + k * G * H, H, dh + at_t, H);
          const scalar_t* z_next = z_t + B * G;
          for (int64_t b = 0; b < B; ++b) {  // δc_t (+)= δc_{t+1} ⊙ f_{t+1}
            const scalar_t* f = z_next + b * G + H;
            scalar_t* out = dc + at_t + b * H;
            const scalar_t* next = out + n;
            if (c_adds) {
              for (int64_t j = 0; j < H; ++j) out[j] = out[j] + next[j] * f[j];
            } else {
              for (int64_t j = 0; j < H; ++j) out[j] = next[j] * f[j];
            }
          }
        }
        for (int64_t b = 0; b < B; ++b) {
          const int64_t row = at_t + b * H;
          scalar_t* dz_b = dz_t + b * G;
          const scalar_t* z_b = z_t + b * G;
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t i = z_b[j], f = z_b[H + j], o = z_b[3 * H + j];
            const scalar_t g = cand[row + j], tc = sq[row + j], c_old = c_prev[b * H + j];
            const scalar_t to_output = (tc * o) * (one - o);
            const scalar_t to_cell = (one - tc * tc) * o;
            const scalar_t delta_h = dh[row + j];
            const scalar_t delta_c = dc[row + j] + delta_h * to_cell;
            dc[row + j] = delta_c;
            dz_b[3 * H + j] = delta_h * to_output;
            dz_b[j] = (g * ((one - i) * i)) * delta_c;
            dz_b[H + j] = (c_old * ((one - f) * f)) * delta_c;
            dz_b[2 * H + j] = (i * (one - g * g)) * delta_c;
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// GRU (gate order r, z, n; the recurrent bias inside the reset product)
// ---------------------------------------------------------------------------------------------

// recurrent (K, T, B, 3H): filled here with (d_r + b_r, d_z + b_z, b_n); on return r, z, u_n. drives
// (K, T, B, 3H), or empty with `inputs`, `w_in` and `bias` (see Projection): the loop projects each
// step's drives into a scratch block itself. b_rec (K, 3H). candidate (K, T, B, H) gets n_t; path
// (K, T + 1, B, H) holds h_0 at 0. w_rec_t (K, H, 3H): W_recᵀ.
void gru_forward(Tensor recurrent, Tensor candidate, Tensor path, const Tensor& drives, const Tensor& b_rec,
                 const Tensor& w_rec_t, const Tensor& inputs, const Tensor& w_in, const Tensor& bias) {
  check_float(recurrent);
  check_buffers(recurrent, {{recurrent, "recurrent"}, {candidate, "candidate"}, {path, "path"},
                         {b_rec, "b_rec"}, {w_rec_t, "W_rec_T"}});
  const int64_t K = recurrent.size(0), T = recurrent.size(1), B = recurrent.size(2), G = recurrent.size(3);
  const int64_t H = G / 3, n = B * H;
  AT_DISPATCH_FLOATING_TYPES(recurrent.scalar_type(), "gradtrace_gru_forward", [&] {
    scalar_t* u = recurrent.data_ptr<scalar_t>();
    scalar_t* cand = candidate.data_ptr<scalar_t>();
    scalar_t* h = path.data_ptr<scalar_t>();
    const scalar_t* br = b_rec.data_ptr<scalar_t>();
    const scalar_t* w = w_rec_t.data_ptr<scalar_t>();
    const Projection<scalar_t> project(inputs, w_in, bias, B);
    if (!project) check_buffer(drives, "drives", recurrent);
    Tensor scratch = project ? at::empty({B, G}, recurrent.options()) : Tensor();
    for (int64_t k = 0; k < K; ++k) {  // member by member: its W_rec stays in cache for the whole window
      const Tensor recurrent_k = recurrent.select(0, k), candidate_k = candidate.select(0, k);
      const scalar_t* b_k = br + k * G;
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* d_k;
        if (project) {
          scalar_t* block = scratch.data_ptr<scalar_t>();
          project.into(block, G, k, t);
          d_k = block;
        } else {
          d_k = drives.data_ptr<scalar_t>() + (k * T + t) * B * G;
        }
        scalar_t* u_k = u + (k * T + t) * B * G;
        for (int64_t b = 0; b < B; ++b) {  // (d_r + b_r, d_z + b_z, b_n)
          for (int64_t j = 0; j < 2 * H; ++j) u_k[b * G + j] = d_k[b * G + j] + b_k[j];
          std::copy(b_k + 2 * H, b_k + G, u_k + b * G + 2 * H);
        }
        gemm<scalar_t>(false, false, B, G, H, scalar_t(1), h + (k * (T + 1) + t) * n, H, w + k * G * H, G,
                       u_k, G);
        recurrent_k.select(0, t).narrow(-1, 0, 2 * H).sigmoid_();
        scalar_t* n_k = cand + (k * T + t) * n;
        for (int64_t b = 0; b < B; ++b) {  // n_t's pre-activation d_n + r ⊙ u_n
          const scalar_t* r = u_k + b * G;
          for (int64_t j = 0; j < H; ++j) n_k[b * H + j] = d_k[b * G + 2 * H + j] + r[j] * r[2 * H + j];
        }
        candidate_k.select(0, t).tanh_();
        const scalar_t* h_old = h + (k * (T + 1) + t) * n;
        scalar_t* h_new = h + (k * (T + 1) + t + 1) * n;
        for (int64_t b = 0; b < B; ++b) {  // h_t = lerp(n_t, h_{t−1}, z_t), in ATen's two-branch form
          const scalar_t* z = u_k + b * G + H;
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t start = n_k[b * H + j], end = h_old[b * H + j], weight = z[j];
            h_new[b * H + j] = std::abs(weight) < scalar_t(0.5) ? start + weight * (end - start)
                                                                : end - (end - start) * (scalar_t(1) - weight);
          }
        }
      }
    }
  });
}

// errors (K, T, B, H): δ_t, holding the outputs' gradients when `adds` and δ_{T−1} complete.
// pre_grad (K, T, B, 3H) gets u′_t; drive_grad (K, T, B, 3H), unless empty, the drives' gradient
// (u′_r, u′_z, δ ⊙ ∂n/∂d_n). recurrent, candidate as gru_forward left them (r, z, u_n; n); path
// (K, T + 1, B, H) the states. The factors that do not depend on the error are formed here, element
// by element, with the products of bptt.py's Python backward in the same order (so the same
// rounding): to_n = (1 − z)(1 − n²); r′ = ((to_n · u_n) · (1 − r) r) δ; z′ = ((h_{t−1} − n) · (1 − z) z) δ;
// u_n′ = (to_n · r) δ; the candidate's drive gets δ · to_n.
void gru_backward(Tensor errors, Tensor pre_grad, Tensor drive_grad, const Tensor& recurrent, const Tensor& candidate,
                  const Tensor& path, const Tensor& w_rec, bool adds) {
  check_float(errors);
  check_buffers(errors, {{errors, "errors"}, {pre_grad, "pre_grad"}, {recurrent, "recurrent"},
                         {candidate, "candidate"}, {path, "path"}, {w_rec, "W_rec"}});
  const bool drives_too = drive_grad.numel() > 0;
  if (drives_too) check_buffer(drive_grad, "drive_grad", errors);
  const int64_t K = errors.size(0), T = errors.size(1), B = errors.size(2), H = errors.size(3), G = 3 * H;
  const int64_t n = B * H;
  AT_DISPATCH_FLOATING_TYPES(errors.scalar_type(), "gradtrace_gru_backward", [&] {
    scalar_t* delta = errors.data_ptr<scalar_t>();
    scalar_t* du = pre_grad.data_ptr<scalar_t>();
    scalar_t* dd = drives_too ? drive_grad.data_ptr<scalar_t>() : nullptr;
    const scalar_t* u = recurrent.data_ptr<scalar_t>();
    const scalar_t* cand = candidate.data_ptr<scalar_t>();
    const scalar_t* h = path.data_ptr<scalar_t>();
    const scalar_t* w = w_rec.data_ptr<scalar_t>();
    const scalar_t one = 1;
    for (int64_t k = 0; k < K; ++k) {  // member by member: its W_rec stays in cache
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t at_t = (k * T + t) * n;
        scalar_t* du_t = du + (k * T + t) * B * G;
        const scalar_t* u_t = u + (k * T + t) * B * G;
        const scalar_t* h_prev = h + (k * (T + 1) + t) * n;
        for (int64_t b = 0; b < B; ++b) {
          const scalar_t* d_b = delta + at_t + b * H;
          const scalar_t* u_b = u_t + b * G;
          const scalar_t* n_b = cand + at_t + b * H;
          const scalar_t* hp_b = h_prev + b * H;
          scalar_t* du_b = du_t + b * G;
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t r = u_b[j], z = u_b[H + j], u_n = u_b[2 * H + j], nn = n_b[j], d = d_b[j];
            const scalar_t to_n = (one - z) * (one - nn * nn);
            du_b[j] = ((to_n * u_n) * ((one - r) * r)) * d;
            du_b[H + j] = ((hp_b[j] - nn) * ((one - z) * z)) * d;
            du_b[2 * H + j] = (to_n * r) * d;
          }
          if (drives_too) {
            scalar_t* dd_b = dd + (k * T + t) * B * G + b * G;
            for (int64_t j = 0; j < 2 * H; ++j) dd_b[j] = du_b[j];
            for (int64_t j = 0; j < H; ++j) {
              const scalar_t z = u_b[H + j], nn = n_b[j];
              dd_b[2 * H + j] = d_b[j] * ((one - z) * (one - nn * nn));
            }
          }
        }
        if (t > 0) {
          scalar_t* previous = delta + at_t - n;
          for (int64_t b = 0; b < B; ++b) {  // δ_{t−1} (+)= δ_t ⊙ z_t
            const scalar_t* z = u_t + b * G + H;
            const scalar_t* d_b = delta + at_t + b * H;
            scalar_t* p_b = previous + b * H;
            if (adds) {
              for (int64_t j = 0; j < H; ++j) p_b[j] = p_b[j] + d_b[j] * z[j];
            } else {
              for (int64_t j = 0; j < H; ++j) p_b[j] = d_b[j] * z[j];
            }
          }
          gemm<scalar_t>(false, false, B, H, G, scalar_t(1), du_t, G, w + k * G * H, H, previous, H);
        }
      }
    }
  });
}

}  // namespace

TORCH_LIBRARY(gradtrace_native, m) {
  m.def("elman_forward(Tensor(a!) path, Tensor(b!) pre, Tensor w_rec_t, str activation, float leaky_slope, "
        "Tensor inputs, Tensor w_in, Tensor bias) -> ()");
  m.def("elman_backward(Tensor(a!) errors, Tensor(b!) pre_grad, Tensor slope, Tensor path, Tensor w_rec, "
        "str activation, bool adds) -> ()");
  m.def("lstm_forward(Tensor(a!) gates, Tensor(b!) candidate, Tensor(c!) squashed, Tensor(d!) path, "
        "Tensor(e!) cells, Tensor w_rec_t, Tensor inputs, Tensor w_in, Tensor bias) -> ()");
  m.def("lstm_backward(Tensor(a!) errors, Tensor(b!) pre_grad, Tensor gates, Tensor candidate, Tensor squashed, "
        "Tensor cells, Tensor w_rec, bool h_adds, bool c_adds) -> ()");
  m.def("gru_forward(Tensor(a!) recurrent, Tensor(b!) candidate, Tensor(c!) path, Tensor drives, Tensor b_rec, "
        "Tensor w_rec_t, Tensor inputs, Tensor w_in, Tensor bias) -> ()");
  m.def("gru_backward(Tensor(a!) errors, Tensor(b!) pre_grad, Tensor(c!) drive_grad, Tensor recurrent, "
        "Tensor candidate, Tensor path, Tensor w_rec, bool adds) -> ()");
}

TORCH_LIBRARY_IMPL(gradtrace_native, CPU, m) {
  m.impl("elman_forward", &elman_forward);
  m.impl("elman_backward", &elman_backward);
  m.impl("lstm_forward", &lstm_forward);
  m.impl("lstm_backward", &lstm_backward);
  m.impl("gru_forward", &gru_forward);
  m.impl("gru_backward", &gru_backward);
}
