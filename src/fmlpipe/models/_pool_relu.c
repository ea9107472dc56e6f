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

CLONES void pool_relu_forward(const float *x, float *y, uint8_t *winner, int64_t n, int64_t h, int64_t w,
                              int64_t c) {
    const int64_t oh = h / 2, ow = w / 2, row = w * c;
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                const float *restrict p0 = x + ((b * h + 2 * i) * w + 2 * j) * c;
                const float *restrict p1 = p0 + c, *restrict p2 = p0 + row, *restrict p3 = p2 + c;
                const int64_t o = ((b * oh + i) * ow + j) * c;
                float *restrict out = y + o;
                uint8_t *restrict win = winner + o;
#pragma GCC ivdep
                for (int64_t k = 0; k < c; k++) {
                    float m = p0[k], v;
                    uint8_t a = 0;
                    v = p1[k]; if (v > m || v != v) { m = v; a = 1; }
                    v = p2[k]; if (v > m || v != v) { m = v; a = 2; }
                    v = p3[k]; if (v > m || v != v) { m = v; a = 3; }
                    out[k] = m < 0 ? 0.0f : m;
                    win[k] = m <= 0 ? 4 : a; /* false for NaN */
                }
            }
}

CLONES void pool_relu_backward(const float *grad, const uint8_t *winner, float *grad_in, int64_t n, int64_t h,
                               int64_t w, int64_t c) {
    const int64_t oh = h / 2, ow = w / 2, row = w * c;
    for (int64_t b = 0; b < n; b++) {
        for (int64_t i = 0; i < oh; i++) {
            for (int64_t j = 0; j < ow; j++) {
                float *restrict p0 = grad_in + ((b * h + 2 * i) * w + 2 * j) * c;
                float *restrict p1 = p0 + c, *restrict p2 = p0 + row, *restrict p3 = p2 + c;
                const int64_t o = ((b * oh + i) * ow + j) * c;
                const float *restrict g = grad + o;
                const uint8_t *restrict win = winner + o;
#pragma GCC ivdep
                for (int64_t k = 0; k < c; k++) {
                    const float v = 0.0f + g[k];
                    const uint8_t a = win[k];
                    p0[k] = a == 0 ? v : 0.0f;
                    p1[k] = a == 1 ? v : 0.0f;
                    p2[k] = a == 2 ? v : 0.0f;
                    p3[k] = a == 3 ? v : 0.0f;
                }
            }
            if (w & 1) {
                memset(grad_in + ((b * h + 2 * i) * w + w - 1) * c, 0, (size_t)c * sizeof(float));
                memset(grad_in + ((b * h + 2 * i + 1) * w + w - 1) * c, 0, (size_t)c * sizeof(float));
            }
        }
        if (h & 1) memset(grad_in + (b * h + h - 1) * row, 0, (size_t)row * sizeof(float));
    }
}

static inline float bf16_to_float(uint16_t v) {
    union { uint32_t u; float f; } t;
    t.u = (uint32_t)v << 16;
    return t.f;
}

/* A float that holds a bfloat16 value exactly (its low 16 bits are 0) back to bfloat16. */
static inline uint16_t exact_bf16(float f) {
    union { uint32_t u; float f; } t;
    t.f = f;
    return (uint16_t)(t.u >> 16);
}

CLONES void pool_relu_forward_bf16(const uint16_t *x, uint16_t *y, uint8_t *winner, int64_t n, int64_t h,
                                   int64_t w, int64_t c) {
    const int64_t oh = h / 2, ow = w / 2, row = w * c;
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                const uint16_t *restrict p0 = x + ((b * h + 2 * i) * w + 2 * j) * c;
                const uint16_t *restrict p1 = p0 + c, *restrict p2 = p0 + row, *restrict p3 = p2 + c;
                const int64_t o = ((b * oh + i) * ow + j) * c;
                uint16_t *restrict out = y + o;
                uint8_t *restrict win = winner + o;
#pragma GCC ivdep
                for (int64_t k = 0; k < c; k++) {
                    float m = bf16_to_float(p0[k]), v;
                    uint8_t a = 0;
                    v = bf16_to_float(p1[k]); if (v > m || v != v) { m = v; a = 1; }
                    v = bf16_to_float(p2[k]); if (v > m || v != v) { m = v; a = 2; }
                    v = bf16_to_float(p3[k]); if (v > m || v != v) { m = v; a = 3; }
                    out[k] = m < 0 ? 0 : exact_bf16(m);
                    win[k] = m <= 0 ? 4 : a; /* false for NaN */
                }
            }
}

CLONES void pool_relu_backward_bf16(const uint16_t *grad, const uint8_t *winner, uint16_t *grad_in, int64_t n,
                                    int64_t h, int64_t w, int64_t c) {
    const int64_t oh = h / 2, ow = w / 2, row = w * c;
    for (int64_t b = 0; b < n; b++) {
        for (int64_t i = 0; i < oh; i++) {
            for (int64_t j = 0; j < ow; j++) {
                uint16_t *restrict p0 = grad_in + ((b * h + 2 * i) * w + 2 * j) * c;
                uint16_t *restrict p1 = p0 + c, *restrict p2 = p0 + row, *restrict p3 = p2 + c;
                const int64_t o = ((b * oh + i) * ow + j) * c;
                const uint16_t *restrict g = grad + o;
                const uint8_t *restrict win = winner + o;
#pragma GCC ivdep
                for (int64_t k = 0; k < c; k++) {
                    const uint16_t v = exact_bf16(0.0f + bf16_to_float(g[k])); /* -0.0 -> +0.0 */
                    const uint8_t a = win[k];
                    p0[k] = a == 0 ? v : 0;
                    p1[k] = a == 1 ? v : 0;
                    p2[k] = a == 2 ? v : 0;
                    p3[k] = a == 3 ? v : 0;
                }
            }
            if (w & 1) {
                memset(grad_in + ((b * h + 2 * i) * w + w - 1) * c, 0, (size_t)c * sizeof(uint16_t));
                memset(grad_in + ((b * h + 2 * i + 1) * w + w - 1) * c, 0, (size_t)c * sizeof(uint16_t));
            }
        }
        if (h & 1) memset(grad_in + (b * h + h - 1) * row, 0, (size_t)row * sizeof(uint16_t));
    }
}
