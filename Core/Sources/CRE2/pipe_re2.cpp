// CRE2: RE2 behind plain C functions. See pipe_re2.h for why this exists and
// what each function promises. The rule here: no C++ exception may leave a
// function of this file (it would unwind through Swift frames, which is
// undefined behaviour), so each one catches everything and reports it.
#include "pipe_re2.h"

#include <re2/re2.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

// The C enum copies RE2::ErrorCode's values so that a code crosses the
// boundary as a plain cast; these fail the build if RE2 ever renumbers them.
static_assert(PIPE_RE2_OK == static_cast<int>(re2::RE2::NoError), "RE2::ErrorCode changed");
static_assert(PIPE_RE2_ERROR_BAD_ESCAPE == static_cast<int>(re2::RE2::ErrorBadEscape), "RE2::ErrorCode changed");
static_assert(PIPE_RE2_ERROR_REPEAT_SIZE == static_cast<int>(re2::RE2::ErrorRepeatSize), "RE2::ErrorCode changed");
static_assert(PIPE_RE2_ERROR_REPEAT_OP == static_cast<int>(re2::RE2::ErrorRepeatOp), "RE2::ErrorCode changed");
static_assert(PIPE_RE2_ERROR_BAD_PERL_OP == static_cast<int>(re2::RE2::ErrorBadPerlOp), "RE2::ErrorCode changed");
static_assert(PIPE_RE2_ERROR_PATTERN_TOO_LARGE == static_cast<int>(re2::RE2::ErrorPatternTooLarge),
              "RE2::ErrorCode changed");

// The opaque handle of the C side. RE2 can be neither copied nor moved, so
// it is built in place inside this struct.
struct pipe_re2 {
    pipe_re2(const re2::StringPiece &pattern, const re2::RE2::Options &options) : re(pattern, options) {}
    re2::RE2 re;
};

// Copies `text` into `out` as a NUL-terminated string cut to `capacity`
// bytes, NUL included (nothing when `capacity` is 0).
static void copy_text(const std::string &text, char *out, size_t capacity) {
    if (capacity == 0) return;
    size_t count = std::min(text.size(), capacity - 1);
    std::memcpy(out, text.data(), count);
    out[count] = '\0';
}

static re2::StringPiece bytes(const uint8_t *data, size_t length) {
    return re2::StringPiece(reinterpret_cast<const char *>(data), length);
}

extern "C" pipe_re2 *pipe_re2_compile(const uint8_t *pattern, size_t length, int64_t max_mem,
                                      enum pipe_re2_error *code, char *message, size_t message_capacity,
                                      char *fragment, size_t fragment_capacity) noexcept {
    copy_text(std::string(), message, message_capacity);
    copy_text(std::string(), fragment, fragment_capacity);
    try {
        re2::RE2::Options options;
        options.set_encoding(re2::RE2::Options::EncodingUTF8);
        options.set_log_errors(false);
        options.set_never_capture(true);
        options.set_max_mem(max_mem);
        pipe_re2 *handle = new pipe_re2(bytes(pattern, length), options);
        if (handle->re.ok()) {
            *code = PIPE_RE2_OK;
            return handle;
        }
        *code = static_cast<enum pipe_re2_error>(handle->re.error_code());
        copy_text(handle->re.error(), message, message_capacity);
        copy_text(handle->re.error_arg(), fragment, fragment_capacity);
        delete handle;
        return nullptr;
    } catch (const std::bad_alloc &) {
        *code = PIPE_RE2_ERROR_OUT_OF_MEMORY;
        copy_text("out of memory", message, message_capacity);
        return nullptr;
    } catch (...) {
        *code = PIPE_RE2_ERROR_INTERNAL;
        copy_text("unexpected C++ exception", message, message_capacity);
        return nullptr;
    }
}

extern "C" int pipe_re2_full_match(const pipe_re2 *re, const uint8_t *text, size_t length) noexcept {
    try {
        // No submatches asked for: RE2 then answers from its DFA alone.
        return re->re.Match(bytes(text, length), 0, length, re2::RE2::ANCHOR_BOTH, nullptr, 0) ? 1 : 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int pipe_re2_program_size(const pipe_re2 *re) noexcept {
    return re->re.ProgramSize();
}

extern "C" void pipe_re2_free(pipe_re2 *re) noexcept {
    delete re;
}
