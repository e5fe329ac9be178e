#ifndef JMIRROR_CCRYPTO_SHIM_H
#define JMIRROR_CCRYPTO_SHIM_H
/* Only SHA-256 is used: the system libcrypto is hardware-accelerated and costs no build time. */
#include <openssl/evp.h>
#endif
