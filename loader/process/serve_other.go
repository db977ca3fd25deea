//go:build !unix

package process

import "os"

func becomeSubreaper() {}

func killDescendants() {}

func dieWithGroup() { os.Exit(3) }
