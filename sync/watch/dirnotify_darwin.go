//go:build darwin

package watch

import (
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// perFileCost: fsnotify's kqueue backend opens every file of a watched
// directory to see it written.
const perFileCost = true

// kqueueDirs watches directories only, one open file each (O_EVTONLY: it
// does not keep a volume from being unmounted): a directory's vnode
// reports NOTE_WRITE when an entry is created, removed or renamed, and
// NOTE_DELETE/NOTE_RENAME when it goes itself. Writes to files inside it
// are not reported; the fallback's periodic rescan finds them.
type kqueueDirs struct {
	kq      int
	changed func(string)

	mu    sync.Mutex
	byFd  map[int]string // guarded by mu
	byDir map[string]int // guarded by mu

	stop chan struct{}
	done chan struct{}
}

func newDirNotifier(changed func(dir string)) (dirNotifier, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(kq)
	n := &kqueueDirs{kq: kq, changed: changed, byFd: map[int]string{}, byDir: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go n.loop()
	return n, nil
}

func (n *kqueueDirs) add(dir string) error {
	n.mu.Lock()
	_, ok := n.byDir[dir]
	n.mu.Unlock()
	if ok {
		return nil
	}
	fd, err := unix.Open(dir, unix.O_EVTONLY|unix.O_CLOEXEC|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	ev := unix.Kevent_t{}
	unix.SetKevent(&ev, fd, unix.EVFILT_VNODE, unix.EV_ADD|unix.EV_CLEAR|unix.EV_ENABLE)
	ev.Fflags = unix.NOTE_WRITE | unix.NOTE_DELETE | unix.NOTE_RENAME | unix.NOTE_REVOKE
	n.mu.Lock()
	n.byFd[fd], n.byDir[dir] = dir, fd
	n.mu.Unlock()
	if _, err := unix.Kevent(n.kq, []unix.Kevent_t{ev}, nil, nil); err != nil {
		n.remove(dir)
		return err
	}
	return nil
}

func (n *kqueueDirs) remove(dir string) {
	n.mu.Lock()
	fd, ok := n.byDir[dir]
	if ok {
		delete(n.byDir, dir)
		delete(n.byFd, fd)
	}
	n.mu.Unlock()
	if ok {
		_ = unix.Close(fd) // closing the file removes its kevent
	}
}

func (n *kqueueDirs) loop() {
	defer close(n.done)
	events := make([]unix.Kevent_t, 64)
	timeout := unix.NsecToTimespec(int64(200e6)) // to see stop
	for {
		select {
		case <-n.stop:
			return
		default:
		}
		k, err := unix.Kevent(n.kq, nil, events, &timeout)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			n.changed("") // lost track: rescan everything
			return
		}
		for _, ev := range events[:k] {
			n.mu.Lock()
			dir, ok := n.byFd[int(ev.Ident)]
			n.mu.Unlock()
			if !ok {
				continue
			}
			n.changed(dir)
			if ev.Fflags&(unix.NOTE_DELETE|unix.NOTE_RENAME|unix.NOTE_REVOKE) != 0 {
				n.changed(filepath.Dir(dir))
			}
		}
	}
}

func (n *kqueueDirs) close() error {
	close(n.stop)
	<-n.done
	n.mu.Lock()
	for fd := range n.byFd {
		_ = unix.Close(fd)
	}
	n.byFd, n.byDir = map[int]string{}, map[string]int{}
	n.mu.Unlock()
	return unix.Close(n.kq)
}
