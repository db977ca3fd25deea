package patch

// Greet takes an int: the slot takes a string.
//
//hotpatch:slot example.Greet
func Greet(n int) string { return "wrong" }
