package main

import "testing"

// TestDirectRoutes checks that -direct serves what the slots serve, for
// good and bad requests, so that go run ./bench compares the same work;
// and that with -direct a patch changes nothing served.
func TestDirectRoutes(t *testing.T) {
	t.Parallel()
	slots, direct := start(t), start(t, "-direct")
	for _, path := range []string{
		"/greet?name=ann",
		"/price?isbn=9780441013593&qty=12",
		"/price?isbn=nope",
		"/price?isbn=9780441013593&qty=0",
		"/books?q=dune",
		"/books?q=",
		"/recommend?isbn=9780441013593&n=2",
		"/recommend?isbn=9780441013593&n=99",
		"/recommend",
	} {
		c1, b1, err1 := slots.get(path)
		c2, b2, err2 := direct.get(path)
		if err1 != nil || err2 != nil || c1 != c2 || b1 != b2 {
			t.Errorf("GET %s: slots %d %q (%v), -direct %d %q (%v)", path, c1, b1, err1, c2, b2, err2)
		}
	}
	for _, s := range []*testServer{slots, direct} {
		s.write("greet.go", greetVersion(1))
	}
	slots.waitGreet("ann", "v1 hello, ann")
	direct.waitFor("the patch applied", func() bool { return len(direct.status().Stack) == 1 })
	if got := direct.greet("ann"); got != "hello, ann" {
		t.Errorf("-direct serves %q after a patch, want the compiled %q", got, "hello, ann")
	}
}
