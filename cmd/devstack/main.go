// Command devstack gives a developer their whole stack from one compose
// file, on the local Docker engine or a remote one, with a live dashboard.
package main

import "os"

func main() {
	os.Exit(Main())
}
