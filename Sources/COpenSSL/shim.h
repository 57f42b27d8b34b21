// The parts of the system OpenSSL (libssl-dev, 3.0 on Debian 12) that Tern uses. Headers only: no C code
// lives here, every call is made from Swift in TernCrypto. libssl (TLS) joins when the HAC arrives.
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

#endif
