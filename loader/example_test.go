package loader_test

import (
	"errors"
	"fmt"

	"github.com/hotpatch-go/hotpatch/loader"
)

func ExampleParse() {
	src := []byte(`package patch

import "strings"

// Greet shouts now.
//hotpatch:slot example.Greet
func Greet(name string) string { return "HELLO, " + strings.ToUpper(name) }
`)
	s, err := loader.Parse("patches/greet.go", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range s.Directives {
		fmt.Printf("%s: func %s serves %s\n", d.Pos, d.Func, d.Slot)
	}
	fmt.Println("imports:", s.Imports)
	fmt.Println("id:", loader.PatchID("patches/greet.go", src))
	// Output:
	// patches/greet.go:6:1: func Greet serves example.Greet
	// imports: [strings]
	// id: greet.go-4608dc70314e
}

func ExampleParse_error() {
	src := []byte(`package patch

//hotpatch:slot example.Greet

func Greet(name string) string { return "hi " + name }
`)
	_, err := loader.Parse("greet.go", src)
	fmt.Println(err)
	var le *loader.Error
	if errors.As(err, &le) && errors.Is(err, loader.ErrNotFunc) {
		fmt.Println("line", le.Pos.Line)
	}
	// Output:
	// greet.go:3:1: loader: //hotpatch:slot is not directly above a top-level func: a blank line separates it from func Greet
	// line 3
}

func ExampleSource_CheckSlots() {
	s, _ := loader.Parse("greet.go", []byte("package patch\n\n//hotpatch:slot example.Greeet\nfunc Greet(name string) string { return name }\n"))
	known := map[string]bool{"example.Greet": true}
	err := s.CheckSlots(func(slot string) error {
		if !known[slot] {
			return errors.New("no such slot") // a loader returns hotswap.ErrUnknownSlot
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// greet.go:3:1: no such slot: example.Greeet (func Greet)
}
