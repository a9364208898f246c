// CRE2: the agent's door to RE2, Google's regular-expression library.
//
// Why this is C (with C++ behind it): RE2 is a C++ library (classes,
// std::string, exceptions), and Swift should not import it directly: that
// would mean turning on C++ interoperability in every module that imports
// PipeSystem, and letting C++ exceptions near Swift frames, which they must
// never unwind through. So the one C++ file of the project, pipe_re2.cpp,
// wraps the few RE2 calls the agent needs in plain C functions over an
// opaque handle, and catches every exception before it reaches the C side.
//
// Texts and patterns are byte buffers with a length, never C strings: a
// client's text may contain NUL bytes, and a NUL must not end it early.
// Every symbol has the prefix `pipe_re2_`.
#ifndef PIPE_RE2_H
#define PIPE_RE2_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
// The C++ side promises that no exception leaves these functions.
#define PIPE_RE2_NOEXCEPT noexcept
#else
#define PIPE_RE2_NOEXCEPT
#endif

/// A compiled pattern: an re2::RE2 built with the options that
/// pipe_re2_compile lists. Immutable once built, so several threads may
/// match with one handle at the same time (re2.h: "An RE2 object is safe for
/// concurrent use by multiple threads").
typedef struct pipe_re2 pipe_re2;

/// Why a pattern did not compile. The values up to
/// PIPE_RE2_ERROR_PATTERN_TOO_LARGE are RE2::ErrorCode's, in its order
/// (pipe_re2.cpp checks that at compile time).
enum pipe_re2_error {
    PIPE_RE2_OK = 0,
    PIPE_RE2_ERROR_INTERNAL,            // unexpected error inside RE2
    PIPE_RE2_ERROR_BAD_ESCAPE,          // e.g. \1 (a back-reference), \Z
    PIPE_RE2_ERROR_BAD_CHAR_CLASS,
    PIPE_RE2_ERROR_BAD_CHAR_RANGE,      // e.g. [z-a]
    PIPE_RE2_ERROR_MISSING_BRACKET,     // missing ]
    PIPE_RE2_ERROR_MISSING_PAREN,       // missing )
    PIPE_RE2_ERROR_UNEXPECTED_PAREN,    // unexpected )
    PIPE_RE2_ERROR_TRAILING_BACKSLASH,
    PIPE_RE2_ERROR_REPEAT_ARGUMENT,     // e.g. * with nothing before it
    PIPE_RE2_ERROR_REPEAT_SIZE,         // a count over 1000, also nested
    PIPE_RE2_ERROR_REPEAT_OP,           // e.g. ** or a possessive *+
    PIPE_RE2_ERROR_BAD_PERL_OP,         // e.g. (?= (?<= (?> (look-around, atomic)
    PIPE_RE2_ERROR_BAD_UTF8,
    PIPE_RE2_ERROR_BAD_NAMED_CAPTURE,
    PIPE_RE2_ERROR_PATTERN_TOO_LARGE,   // the program does not fit in max_mem
    PIPE_RE2_ERROR_OUT_OF_MEMORY = 100, // not RE2's: std::bad_alloc while compiling
};

/// Compiles `pattern` (`length` bytes of UTF-8; NULL only when `length` is
/// 0) with RE2's options: UTF-8 pattern and texts, log_errors off (errors
/// come back here, never on stderr), never_capture (only whole matches are
/// asked for, so groups need no bookkeeping) and `max_mem` bytes as the
/// budget for the compiled program and its DFA cache (RE2 refuses a pattern
/// whose program does not fit: PIPE_RE2_ERROR_PATTERN_TOO_LARGE).
///
/// Returns the handle (free it with pipe_re2_free), or NULL with `*code`
/// set, RE2's error text (e.g. "missing ): (a") in `message` and the
/// offending part of the pattern (e.g. "(a") in `fragment`, each
/// NUL-terminated and cut to its capacity (which may be 0).
/// Must be C++ behind a C signature: it constructs an re2::RE2.
pipe_re2 *_Nullable pipe_re2_compile(const uint8_t *_Nullable pattern, size_t length, int64_t max_mem,
                                     enum pipe_re2_error *_Nonnull code,
                                     char *_Nonnull message, size_t message_capacity,
                                     char *_Nonnull fragment, size_t fragment_capacity) PIPE_RE2_NOEXCEPT;

/// Whether `re` matches all of `text` (`length` bytes; NULL only when
/// `length` is 0; NUL bytes are ordinary characters): 1 if it does, 0 if
/// not, -1 if RE2 could not decide (it ran out of memory), which callers
/// must treat as "no". Time linear in `length` (RE2 runs a DFA, or an NFA
/// when the DFA's memory budget runs out; never backtracking).
/// Must be C++ behind a C signature: it calls re2::RE2::Match.
int pipe_re2_full_match(const pipe_re2 *_Nonnull re, const uint8_t *_Nullable text, size_t length) PIPE_RE2_NOEXCEPT;

/// RE2's ProgramSize(): the number of instructions in the compiled program,
/// "a very approximate measure of a regexp's cost" (re2.h). The time one
/// match takes grows with it as well as with the text.
/// Must be C++ behind a C signature: it calls re2::RE2::ProgramSize.
int pipe_re2_program_size(const pipe_re2 *_Nonnull re) PIPE_RE2_NOEXCEPT;

/// Destroys a handle from pipe_re2_compile; NULL is ignored.
/// Must be C++ behind a C signature: it runs re2::RE2's destructor.
void pipe_re2_free(pipe_re2 *_Nullable re) PIPE_RE2_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
