// The parts of the system OpenSSL (libssl-dev, 3.0 on Debian 12) that Tern uses: libcrypto for TernCrypto,
// libssl for TernTLS (MN <-> HAC). Headers only: every call is made from Swift. The few `static inline`
// functions at the end only name values that OpenSSL defines as macros Swift cannot import.
#ifndef TERN_COPENSSL_SHIM_H
#define TERN_COPENSSL_SHIM_H

// HMAC uses OpenSSL's SHA1_* / SHA256_* functions, which 3.0 marks deprecated: through EVP, every digest
// or MAC re-initialisation allocates a provider context (see Sources/TernCrypto/HMACContext.swift), and the
// data path must not allocate per packet. Same implementation underneath (assembly, SHA-NI).
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>

// SSL_OP_* are built with SSL_OP_BIT(n), a cast-and-shift macro that Swift's importer skips.
static inline uint64_t tern_ssl_op_no_renegotiation(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t tern_ssl_op_no_compression(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t tern_ssl_op_no_ticket(void) { return SSL_OP_NO_TICKET; }

#endif
