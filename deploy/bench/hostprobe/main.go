// Command hostprobe prints what the benchmarks' machine can do, so that a
// figure in BENCHMARKS.md can be read next to the machine it came from.
//
// The same code on two "2-core" machines of this project has differed by
// three to six times: once in plain CPU speed, once in what it costs to
// wake a process on the other CPU (a virtual CPU that halts when idle needs
// the hypervisor to wake it). Each line here measures one of those:
//
//   - cpu: a fixed hashing loop, the kind of work a parser does;
//   - fsync: an append of 2.4 KB then fsync, as the RADIUS write-ahead log
//     does, in the directory given (default: the working directory), and
//     the same write into a file zeroed beforehand (no size or block
//     allocation for the filesystem's journal to commit, as PostgreSQL
//     prepares its WAL segments): what a pre-zeroed log would gain;
//   - wakeup: a one-byte round trip over pipes between two threads, and
//     between two processes, pinned to two CPUs and then to one.
//
// Usage: go run ./deploy/bench/hostprobe [-dir DIR]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-echo" {
		cpu, _ := strconv.Atoi(os.Args[2])
		echo(3, 4, cpu)
		return
	}
	dir := flag.String("dir", ".", "directory for the fsync probe")
	flag.Parse()
	fmt.Printf("host: %s, %d CPUs, load %s\n", cpuModel(), runtime.NumCPU(), loadAvg())
	if v, err := os.ReadFile("/sys/module/haltpoll/parameters/guest_halt_poll_ns"); err == nil {
		fmt.Printf("host: guest halt polling %s ns (0: an idle vCPU halts at once, and waking it costs a hypervisor round trip)\n", strings.TrimSpace(string(v)))
	}
	fmt.Printf("cpu: %.1f ns per 64-byte hash\n", cpu())
	for _, zeroed := range []bool{false, true} {
		what := "2.4 KB append"
		if zeroed {
			what = "2.4 KB write into a zeroed file"
		}
		if p50, p99, err := fsyncs(*dir, 1000, zeroed); err != nil {
			fmt.Printf("fsync: %v\n", err)
		} else {
			fmt.Printf("fsync: p50 %d µs, p99 %d µs (%s, %s)\n", p50.Microseconds(), p99.Microseconds(), what, *dir)
		}
	}
	if runtime.NumCPU() < 2 {
		return
	}
	for _, c := range []struct {
		what  string
		trip  func(n, cpu int) (time.Duration, error)
		other int
	}{
		{"threads, two CPUs", threadRoundTrip, 1},
		{"threads, one CPU", threadRoundTrip, 0},
		{"processes, two CPUs", processRoundTrip, 1},
		{"processes, one CPU", processRoundTrip, 0},
	} {
		d, err := c.trip(20000, c.other)
		if err != nil {
			fmt.Printf("wakeup: %s: %v\n", c.what, err)
			return
		}
		fmt.Printf("wakeup: %.1f µs per round trip, %s\n", us(d), c.what)
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

var sink uint64

// cpu times FNV-1a over 64 bytes, the best of five runs of a million.
func cpu() float64 {
	buf := make([]byte, 64)
	for i := range buf {
		buf[i] = byte(i)
	}
	best := time.Duration(1 << 62)
	for range 5 {
		start := time.Now()
		for i := range 1_000_000 {
			h := uint64(14695981039346656037) ^ uint64(i)
			for _, c := range buf {
				h ^= uint64(c)
				h *= 1099511628211
			}
			sink += h
		}
		best = min(best, time.Since(start))
	}
	return float64(best.Nanoseconds()) / 1e6
}

func fsyncs(dir string, n int, zeroed bool) (p50, p99 time.Duration, err error) {
	f, err := os.CreateTemp(dir, ".hostprobe-*")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	line := make([]byte, 2400)
	if zeroed {
		if _, err := f.Write(make([]byte, n*len(line))); err != nil {
			return 0, 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, 0, err
		}
		if _, err := f.Seek(0, 0); err != nil {
			return 0, 0, err
		}
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		if _, err := f.Write(line); err != nil {
			return 0, 0, err
		}
		start := time.Now()
		if err := f.Sync(); err != nil {
			return 0, 0, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[n/2], ds[n*99/100], nil
}

// echo copies one byte at a time from fd in to fd out until in ends.
func echo(in, out, cpu int) {
	runtime.LockOSThread()
	pin(cpu)
	buf := make([]byte, 1)
	for {
		if n, err := syscall.Read(in, buf); n != 1 || err != nil {
			return
		}
		if _, err := syscall.Write(out, buf); err != nil {
			return
		}
	}
}

// pingPong times n one-byte round trips: write to w, read the echo from r.
// Blocking pipes on a locked thread, so that the runtime's poller is not
// what is measured.
func pingPong(w, r, n int) (time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pin(0)
	buf := make([]byte, 1)
	var start time.Time
	for i := range n + 100 {
		if i == 100 { // the echo side is warm
			start = time.Now()
		}
		if _, err := syscall.Write(w, buf); err != nil {
			return 0, err
		}
		if _, err := syscall.Read(r, buf); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// pipes returns a pipe to the echo side and one back.
func pipes() (to, back [2]int, err error) {
	if err = syscall.Pipe2(to[:], syscall.O_CLOEXEC); err == nil {
		err = syscall.Pipe2(back[:], syscall.O_CLOEXEC)
	}
	return to, back, err
}

func processRoundTrip(n, cpu int) (time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	to, back, err := pipes()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self, "-echo", strconv.Itoa(cpu))
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(to[0]), "to"), os.NewFile(uintptr(back[1]), "back")} // fds 3 and 4
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	syscall.Close(to[0])
	syscall.Close(back[1])
	d, err := pingPong(to[1], back[0], n)
	syscall.Close(to[1])
	cmd.Wait()
	syscall.Close(back[0])
	return d, err
}

func threadRoundTrip(n, cpu int) (time.Duration, error) {
	to, back, err := pipes()
	if err != nil {
		return 0, err
	}
	go echo(to[0], back[1], cpu)
	d, err := pingPong(to[1], back[0], n)
	syscall.Close(to[1]) // ends the echo
	return d, err
}

// pin binds the calling thread to one CPU (the thread must be locked).
func pin(cpu int) {
	var mask [16]uint64
	mask[cpu/64] |= 1 << (cpu % 64)
	syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
}
