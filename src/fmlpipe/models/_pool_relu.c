/* relu(max_pool2d(x, 2)) over float32 or bfloat16 NHWC (channels-last) data, forward and backward.
 *
 * The same numbers as ATen's CPU F.relu(F.max_pool2d(x, 2)), bit for bit:
 * - a window's maximum is its first maximum in row-major order (a later element wins only when
 *   strictly greater), a NaN wins over everything before it, and an odd last row or column
 *   belongs to no window;
 * - relu(m) is (m < 0 ? 0 : m), so relu(-0.0) = -0.0 and relu(NaN) = NaN, and its backward
 *   passes the gradient where the output is > 0 or NaN (threshold_backward);
 * - the winner's input gradient is 0 + grad, every other one +0 (ATen zero-fills, then adds).
 * It is faster because it records each window's winner in one byte (4: ReLU passes nothing)
 * instead of an int64 index, writes each input gradient once instead of zero-filling the input
 * and scattering into it, and makes one pass where ATen makes four. Loaded with ctypes by
 * fmlpipe.models.native_pool; it needs no Python or torch headers.
 *
 * The bfloat16 pair (bf16 autocast training) works in float, where every bfloat16 value is
 * exact, so the winner and 0 + grad (-0.0 made +0.0) go back to bfloat16 unrounded. A NaN stays
 * a NaN, but not always with ATen's payload, which itself depends on the shape (its vectorized
 * and scalar loops differ there); nothing reads a NaN's payload.
 */
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* One build runs on any x86-64; the widest vector unit present is chosen at load time. */
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

/* Element conversions: every bfloat16 value is exact in float, so a float that came from one
 * goes back by dropping its low 16 bits, unrounded. */
static inline float f32_load(float v) { return v; }
static inline float f32_store(float f) { return f; }

static inline float bf16_load(uint16_t v) {
    union { uint32_t u; float f; } t;
    t.u = (uint32_t)v << 16;
    return t.f;
}

static inline uint16_t bf16_store(float f) {
    union { uint32_t u; float f; } t;
    t.f = f;
    return (uint16_t)(t.u >> 16);
}

/* One forward and one backward per element type T, which LOAD reads into float and STORE writes
 * back from a float that holds a T exactly. */
#define DEFINE_POOL_RELU(SUFFIX, T, LOAD, STORE)                                                        \
    CLONES void pool_relu_forward##SUFFIX(const T *x, T *y, uint8_t *winner, int64_t n, int64_t h,      \
                                          int64_t w, int64_t c) {                                       \
        const int64_t oh = h / 2, ow = w / 2, row = w * c;                                              \
        for (int64_t b = 0; b < n; b++)                                                                 \
            for (int64_t i = 0; i < oh; i++)                                                            \
                for (int64_t j = 0; j < ow; j++) {                                                      \
                    const T *restrict p0 = x + ((b * h + 2 * i) * w + 2 * j) * c;                       \
                    const T *restrict p1 = p0 + c, *restrict p2 = p0 + row, *restrict p3 = p2 + c;      \
                    const int64_t o = ((b * oh + i) * ow + j) * c;                                      \
                    T *restrict out = y + o;                                                            \
                    uint8_t *restrict win = winner + o;                                                 \
                    _Pragma("GCC ivdep")                                                                \
                    for (int64_t k = 0; k < c; k++) {                                                   \
                        float m = LOAD(p0[k]), v;                                                       \
                        uint8_t a = 0;                                                                  \
                        v = LOAD(p1[k]); if (v > m || v != v) { m = v; a = 1; }                         \
                        v = LOAD(p2[k]); if (v > m || v != v) { m = v; a = 2; }                         \
                        v = LOAD(p3[k]); if (v > m || v != v) { m = v; a = 3; }                         \
                        out[k] = STORE(m < 0 ? 0.0f : m);                                               \
                        win[k] = m <= 0 ? 4 : a; /* false for NaN */                                    \
                    }                                                                                   \
                }                                                                                       \
    }                                                                                                   \
                                                                                                        \
    CLONES void pool_relu_backward##SUFFIX(const T *grad, const uint8_t *winner, T *grad_in, int64_t n, \
                                           int64_t h, int64_t w, int64_t c) {                           \
        const int64_t oh = h / 2, ow = w / 2, row = w * c;                                              \
        for (int64_t b = 0; b < n; b++) {                                                               \
            for (int64_t i = 0; i < oh; i++) {                                                          \
                for (int64_t j = 0; j < ow; j++) {                                                      \
                    T *restrict p0 = grad_in + ((b * h + 2 * i) * w + 2 * j) * c;                       \
                    T *restrict p1 = p0 + c, *restrict p2 = p0 + row, *restrict p3 = p2 + c;            \
                    const int64_t o = ((b * oh + i) * ow + j) * c;                                      \
                    const T *restrict g = grad + o;                                                     \
                    const uint8_t *restrict win = winner + o;                                           \
                    _Pragma("GCC ivdep")                                                                \
                    for (int64_t k = 0; k < c; k++) {                                                   \
                        const T v = STORE(0.0f + LOAD(g[k]));                                           \
                        const T zero = STORE(0.0f);                                                     \
                        const uint8_t a = win[k];                                                       \
                        p0[k] = a == 0 ? v : zero;                                                      \
                        p1[k] = a == 1 ? v : zero;                                                      \
                        p2[k] = a == 2 ? v : zero;                                                      \
                        p3[k] = a == 3 ? v : zero;                                                      \
                    }                                                                                   \
                }                                                                                       \
                if (w & 1) {                                                                            \
                    memset(grad_in + ((b * h + 2 * i) * w + w - 1) * c, 0, (size_t)c * sizeof(T));      \
                    memset(grad_in + ((b * h + 2 * i + 1) * w + w - 1) * c, 0, (size_t)c * sizeof(T));  \
                }                                                                                       \
            }                                                                                           \
            if (h & 1) memset(grad_in + (b * h + h - 1) * row, 0, (size_t)row * sizeof(T));             \
        }                                                                                               \
    }

DEFINE_POOL_RELU(, float, f32_load, f32_store)
DEFINE_POOL_RELU(_bf16, uint16_t, bf16_load, bf16_store)
