//go:build !unix

package procplugin

import "os"

func becomeSubreaper() {}

func killDescendants() {}

func dieWithGroup() { os.Exit(3) }
