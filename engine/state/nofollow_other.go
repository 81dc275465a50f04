//go:build !unix

package state

// noFollow: elsewhere (Windows) there is no such flag, and state lives in
// the user's own profile.
const noFollow = 0
