//go:build !unix

package pack

const openFlags = 0
