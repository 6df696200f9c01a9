package devpts

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestCanonicalEditing(t *testing.T) {
	var l lineDiscipline
	l.init()
	for _, tc := range []struct {
		name, in, read, echo string
	}{
		{"plain", "hello\r", "hello\n", "hello\r\n"},
		{"erase", "ab\x7fc\n", "ac\n", "ab\b \bc\r\n"},
		{"kill", "abc\x15d\n", "d\n", "abc\b \b\b \b\b \bd\r\n"},
		{"word-erase", "one two\x17three\n", "one three\n", "one two\b \b\b \b\b \bthree\r\n"},
		{"control-echo", "a\x01\n", "a\x01\n", "a^A\r\n"},
		{"partial-line-unreadable", "abc", "", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.flushInput()
			l.out = nil
			if sigs := l.input([]byte(tc.in)); len(sigs) != 0 {
				t.Errorf("signals %v", sigs)
			}
			buf := make([]byte, 100)
			n := l.read(buf)
			if got := string(buf[:n]); got != tc.read {
				t.Errorf("read %q, want %q", got, tc.read)
			}
			if got := string(l.out); got != tc.echo {
				t.Errorf("echo %q, want %q", got, tc.echo)
			}
		})
	}
}

func TestEOFAndLines(t *testing.T) {
	var l lineDiscipline
	l.init()
	l.input([]byte("one\ntwo\n\x04"))
	buf := make([]byte, 100)
	for _, want := range []string{"one\n", "two\n", ""} {
		if !l.readable() {
			t.Fatalf("not readable before %q", want)
		}
		if got := string(buf[:l.read(buf)]); got != want {
			t.Errorf("read %q, want %q", got, want)
		}
	}
	if l.readable() {
		t.Error("readable after the end-of-file")
	}
	l.input([]byte("ab\x04"))
	if got := string(buf[:l.read(buf)]); got != "ab" {
		t.Errorf("VEOF after text: read %q, want \"ab\"", got)
	}
}

func TestSignalsAndRaw(t *testing.T) {
	var l lineDiscipline
	l.init()
	l.input([]byte("partial"))
	sigs := l.input([]byte{0x03, 0x1c, 0x1a})
	want := []unix.Signal{unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP}
	if len(sigs) != 3 || sigs[0] != want[0] || sigs[1] != want[1] || sigs[2] != want[2] {
		t.Errorf("signals %v, want %v", sigs, want)
	}
	if len(l.line) != 0 {
		t.Errorf("line %q not flushed by ISIG", l.line)
	}
	raw := l.termios
	raw.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG
	raw.Iflag &^= unix.ICRNL
	raw.Oflag &^= unix.OPOST
	l.setTermios(raw)
	l.out = nil
	l.input([]byte("x\r\x03"))
	buf := make([]byte, 10)
	if got := string(buf[:l.read(buf)]); got != "x\r\x03" {
		t.Errorf("raw read %q", got)
	}
	if len(l.out) != 0 {
		t.Errorf("raw mode echoed %q", l.out)
	}
	l.output([]byte("a\nb"))
	if string(l.out) != "a\nb" {
		t.Errorf("raw output %q", l.out)
	}
}

func TestTerminalsNumbering(t *testing.T) {
	fs := New()
	m0, t0, err := fs.OpenMaster()
	if err != nil {
		t.Fatal(err)
	}
	_, t1, err := fs.OpenMaster()
	if err != nil {
		t.Fatal(err)
	}
	if t0.Index() != 0 || t1.Index() != 1 {
		t.Fatalf("indexes %d, %d", t0.Index(), t1.Index())
	}
	m0.DecRef()
	t2, err := fs.NewTerminal()
	if err != nil || t2.Index() != 0 {
		t.Fatalf("index %d after release, %v; want 0", t2.Index(), err)
	}
}
