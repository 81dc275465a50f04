package watch

import "syscall"

func errENOSPC() error { return syscall.ENOSPC }
