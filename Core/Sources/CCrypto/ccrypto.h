/*
 * CCrypto: OpenSSL's libcrypto (Debian's libssl-dev), for SHA-256 of pinned
 * programs.  libpcp already loads libcrypto (it links libssl for secure
 * connections), so hashing through it costs no new dependency; its EVP
 * digest functions are plain functions Swift imports directly.
 */
#ifndef CCRYPTO_H
#define CCRYPTO_H
#include <openssl/evp.h>
#endif
