//go:build !linux

package main

// releaseInitPages is Linux's alone (see resident_linux.go).
func releaseInitPages() {}
