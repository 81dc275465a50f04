package main

import (
	"debug/elf"
	"os"
	"sync"
	"syscall"
)

// releaseInitPages gives back, once, the pages of devstack's own code
// and read-only tables that package initialisation touched. The binary
// links compose-go, moby, BuildKit and client-go; their init functions
// touch pages all over its 33 MB of code and 40 MB of tables, and the
// kernel maps the 64 KiB around each page touched, so ~40 MB of the file
// is resident before main runs, most of it never used again. A load with
// compose-go is the high point of a command's memory, so the CLI calls
// this before one (measured: `up -d` of 200 services peaked at 62 MB, 45
// MB of it the binary's; with this, 49–51 MB, at the end of
// initialisation). Not before every command: mapping the pages a command
// uses back costs ~20 ms of CPU, nothing beside compose-go's 180 ms for
// 200 services, but a quarter of a cached `ps`.
//
// Those pages are clean copies of the file: the kernel drops them under
// memory pressure anyway, and one touched again is mapped back from the
// page cache (a minor fault, no disk read). Only the read-only segments
// of a fixed-address binary are released, in whole pages: a
// position-independent one is placed by the kernel, and a RELRO segment
// or a page shared with writable data was written (a private page written
// holds what the file does not).
var releaseInitPages = sync.OnceFunc(dropInitPages)

// dropInitPages does releaseInitPages' work, every time it is called.
func dropInitPages() {
	f, err := elf.Open("/proc/self/exe") // the very file mapped, even if replaced since
	if err != nil {
		return
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		return
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_GNU_RELRO {
			return
		}
	}
	page := uint64(os.Getpagesize())
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W != 0 {
			continue
		}
		start := (p.Vaddr + page - 1) &^ (page - 1)
		end := (p.Vaddr + p.Memsz) &^ (page - 1)
		if end > start {
			_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED)
		}
	}
}
