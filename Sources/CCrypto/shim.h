// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, whose provider
// set-up costs each process 2.3 MB of resident memory; they stay in 3.x (see SHA256.swift).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
