package process

import "runtime"

// spawner starts plugin processes from one goroutine locked to its OS
// thread for the loader's life. On Linux a child's parent-death signal
// fires when the thread that forked it exits, not the process; Go ends a
// thread when a goroutine locked to it returns, which code elsewhere in the
// host may do. Forking from a thread that lives as long as the loader keeps
// the signal for its purpose: the host's death.
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	start func() error
	errc  chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *spawner) loop() {
	defer close(s.done)
	runtime.LockOSThread()
	// Unlocked before returning, so that the thread survives the goroutine:
	// children still running (being killed by Close) keep their parent.
	defer runtime.UnlockOSThread()
	for req := range s.reqs {
		req.errc <- req.start()
	}
}

// run runs start on the spawner's thread.
func (s *spawner) run(start func() error) error {
	errc := make(chan error, 1)
	s.reqs <- spawnReq{start: start, errc: errc}
	return <-errc
}

// close stops the spawner once no run is in progress, and waits for it.
func (s *spawner) close() {
	close(s.reqs)
	<-s.done
}
