// The system libcap (libcap-dev, 2.66 on Debian 12): capability names and numbers, the bounding and
// ambient sets, capset through cap_set_proc, and cap_set_syscall, through which TernPrivileges makes every
// one of those changes on all threads of the process (Sources/CTernPrivileges). Headers only.
#ifndef TERN_CLIBCAP_SHIM_H
#define TERN_CLIBCAP_SHIM_H

#include <sys/capability.h>
#include <sys/prctl.h>

#endif
