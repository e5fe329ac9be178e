#ifndef JMIRROR_CARCHIVE_SHIM_H
#define JMIRROR_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
/* Macros with casts are not imported into Swift. */
static const unsigned int jm_ae_ifreg = AE_IFREG;
static const unsigned int jm_ae_ifdir = AE_IFDIR;
#endif
