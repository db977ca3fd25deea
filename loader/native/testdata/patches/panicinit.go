package patch

func init() { panic("patch init fails") }

// Greet would serve the slot, if the patch got that far.
//
//hotpatch:slot example.Greet
func Greet(name string) string { return "never, " + name }
