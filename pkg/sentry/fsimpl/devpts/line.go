package devpts

import (
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Queue limits, as Linux's N_TTY: a canonical line holds at most 4095
// characters (the 4096th is the line end) and the input queue 4096 bytes;
// output is bounded so a slave writing to a master nobody reads cannot
// grow without end (extra output is dropped, as a full hardware line
// would).
const (
	maxLine  = 4095
	maxInput = 4096
	maxOut   = 1 << 20
)

// lineDiscipline is N_TTY: termios, the input queue (what the slave
// reads), the canonical line being edited, and the output queue (what the
// master reads). It is guarded by Terminal.mu.
type lineDiscipline struct {
	termios unix.Termios
	// in holds input the slave can read. In canonical mode it holds whole
	// lines only, each ended by a record boundary in ends.
	in []byte
	// ends are the lengths of the complete lines at the front of in
	// (canonical mode); an end-of-file (VEOF on an empty line) is a line
	// of length 0.
	ends []int
	// line is the canonical line being edited.
	line []byte
	// out is the output the master reads.
	out []byte
}

// init sets Linux's default termios (tty_std_termios): ICRNL|IXON,
// OPOST|ONLCR, B38400|CS8|CREAD|HUPCL, ISIG|ICANON|ECHO|ECHOE|ECHOK|
// ECHOCTL|ECHOKE|IEXTEN, and the usual control characters.
func (l *lineDiscipline) init() {
	l.termios = unix.Termios{
		Iflag:  unix.ICRNL | unix.IXON,
		Oflag:  unix.OPOST | unix.ONLCR,
		Cflag:  unix.B38400 | unix.CS8 | unix.CREAD | unix.HUPCL,
		Lflag:  unix.ISIG | unix.ICANON | unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHOCTL | unix.ECHOKE | unix.IEXTEN,
		Ispeed: unix.B38400,
		Ospeed: unix.B38400,
	}
	cc := &l.termios.Cc
	cc[unix.VINTR] = 0x03    // ^C
	cc[unix.VQUIT] = 0x1c    // ^\
	cc[unix.VERASE] = 0x7f   // DEL
	cc[unix.VKILL] = 0x15    // ^U
	cc[unix.VEOF] = 0x04     // ^D
	cc[unix.VMIN] = 1        //
	cc[unix.VSTART] = 0x11   // ^Q
	cc[unix.VSTOP] = 0x13    // ^S
	cc[unix.VSUSP] = 0x1a    // ^Z
	cc[unix.VREPRINT] = 0x12 // ^R
	cc[unix.VDISCARD] = 0x0f // ^O
	cc[unix.VWERASE] = 0x17  // ^W
	cc[unix.VLNEXT] = 0x16   // ^V
}

func (l *lineDiscipline) canonical() bool { return l.termios.Lflag&unix.ICANON != 0 }

func (l *lineDiscipline) vmin() byte { return l.termios.Cc[unix.VMIN] }

// setTermios changes the settings; leaving canonical mode makes the line
// being edited readable, as Linux does.
func (l *lineDiscipline) setTermios(t unix.Termios) {
	wasCanon := l.canonical()
	l.termios = t
	if wasCanon && !l.canonical() {
		l.in = append(l.in, l.line...)
		l.line = nil
		l.ends = nil
	}
	if !wasCanon && l.canonical() {
		// Input already queued is one line for the reader.
		if len(l.in) > 0 {
			l.ends = []int{len(l.in)}
		}
	}
}

// flushInput discards unread input.
func (l *lineDiscipline) flushInput() {
	l.in, l.ends, l.line = nil, nil, nil
}

// readable reports whether a slave read would return now.
func (l *lineDiscipline) readable() bool {
	if l.canonical() {
		return len(l.ends) > 0
	}
	n := int(l.vmin())
	if n == 0 {
		n = 1
	}
	return len(l.in) >= n || (len(l.in) > 0 && len(l.in) >= maxInput)
}

// available is the number of bytes a read could return (TIOCINQ).
func (l *lineDiscipline) available() int {
	if l.canonical() {
		n := 0
		for _, e := range l.ends {
			n += e
		}
		return n
	}
	return len(l.in)
}

// read takes input for a slave read: in canonical mode at most one line.
func (l *lineDiscipline) read(p []byte) int {
	if !l.canonical() {
		n := copy(p, l.in)
		l.in = l.in[n:]
		return n
	}
	if len(l.ends) == 0 {
		return 0
	}
	n := copy(p, l.in[:l.ends[0]])
	l.in = l.in[n:]
	if n == l.ends[0] {
		l.ends = l.ends[1:]
	} else {
		l.ends[0] -= n
	}
	if len(l.in) == 0 {
		l.in = nil
	}
	return n
}

// isCC reports whether c is the enabled control character cc[i]
// (_POSIX_VDISABLE, 0, disables one).
func (l *lineDiscipline) isCC(c byte, i int) bool {
	v := l.termios.Cc[i]
	return v != 0 && c == v
}

// input processes typed characters and returns the signals to send to the
// foreground process group.
func (l *lineDiscipline) input(p []byte) []unix.Signal {
	var sigs []unix.Signal
	tio := &l.termios
	for _, c := range p {
		if tio.Iflag&unix.ISTRIP != 0 {
			c &= 0x7f
		}
		switch {
		case c == '\r' && tio.Iflag&unix.IGNCR != 0:
			continue
		case c == '\r' && tio.Iflag&unix.ICRNL != 0:
			c = '\n'
		case c == '\n' && tio.Iflag&unix.INLCR != 0:
			c = '\r'
		}
		if tio.Lflag&unix.ISIG != 0 {
			var sig unix.Signal
			switch {
			case l.isCC(c, unix.VINTR):
				sig = unix.SIGINT
			case l.isCC(c, unix.VQUIT):
				sig = unix.SIGQUIT
			case l.isCC(c, unix.VSUSP):
				sig = unix.SIGTSTP
			}
			if sig != 0 {
				if tio.Lflag&unix.NOFLSH == 0 {
					l.flushInput()
				}
				l.echo(c)
				sigs = append(sigs, sig)
				continue
			}
		}
		if !l.canonical() {
			if len(l.in) < maxInput {
				l.in = append(l.in, c)
			}
			l.echo(c)
			continue
		}
		switch {
		case l.isCC(c, unix.VERASE):
			l.erase(1)
			continue
		case l.isCC(c, unix.VWERASE) && tio.Lflag&unix.IEXTEN != 0:
			l.eraseWord()
			continue
		case l.isCC(c, unix.VKILL):
			if tio.Lflag&unix.ECHOKE != 0 && tio.Lflag&unix.ECHOE != 0 {
				l.erase(len(l.line))
			} else {
				l.erase(-len(l.line))
				l.echo(c)
				if tio.Lflag&unix.ECHOK != 0 {
					l.echoRaw('\n')
				}
			}
			continue
		case l.isCC(c, unix.VEOF):
			l.endLine()
			continue
		case c == '\n' || l.isCC(c, unix.VEOL) || (l.isCC(c, unix.VEOL2) && tio.Lflag&unix.IEXTEN != 0):
			l.line = append(l.line, c)
			if c == '\n' && tio.Lflag&unix.ECHO == 0 && tio.Lflag&unix.ECHONL != 0 {
				l.echoRaw('\n')
			} else {
				l.echo(c)
			}
			l.endLine()
			continue
		}
		if len(l.line) < maxLine {
			l.line = append(l.line, c)
			l.echo(c)
		}
	}
	return sigs
}

// endLine makes the line being edited readable as one line.
func (l *lineDiscipline) endLine() {
	if len(l.in)+len(l.line) > maxInput*4 {
		l.line = nil
		return
	}
	l.in = append(l.in, l.line...)
	l.ends = append(l.ends, len(l.line))
	l.line = nil
}

// erase removes n characters (runes) from the end of the line, echoing
// "\b \b" for each if ECHOE is set (or nothing when n < 0: remove -n
// without visual erase).
func (l *lineDiscipline) erase(n int) {
	visual := n > 0 && l.termios.Lflag&unix.ECHO != 0 && l.termios.Lflag&unix.ECHOE != 0
	if n < 0 {
		n = -n
	}
	for ; n > 0 && len(l.line) > 0; n-- {
		_, size := utf8.DecodeLastRune(l.line)
		last := l.line[len(l.line)-size]
		l.line = l.line[:len(l.line)-size]
		if visual {
			w := 1
			if l.termios.Lflag&unix.ECHOCTL != 0 && isControl(last) {
				w = 2 // "^X" takes two columns
			}
			for i := 0; i < w; i++ {
				l.out = append(l.out, '\b', ' ', '\b')
			}
		}
	}
}

// eraseWord removes the last word and the blanks after it (VWERASE).
func (l *lineDiscipline) eraseWord() {
	for len(l.line) > 0 && isBlank(l.line[len(l.line)-1]) {
		l.erase(1)
	}
	for len(l.line) > 0 && !isBlank(l.line[len(l.line)-1]) {
		l.erase(1)
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// isControl reports whether c echoes as "^X" under ECHOCTL.
func isControl(c byte) bool { return (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f }

// echo echoes an input character if ECHO is set: control characters as
// "^X" under ECHOCTL.
func (l *lineDiscipline) echo(c byte) {
	if l.termios.Lflag&unix.ECHO == 0 {
		return
	}
	if l.termios.Lflag&unix.ECHOCTL != 0 && isControl(c) {
		l.emit([]byte{'^', c ^ 0x40})
		return
	}
	l.emit([]byte{c})
}

// echoRaw echoes c whatever ECHO says (ECHONL, ECHOK).
func (l *lineDiscipline) echoRaw(c byte) { l.emit([]byte{c}) }

// output queues what the slave writes, through output processing.
func (l *lineDiscipline) output(p []byte) { l.emit(p) }

// emit appends p to the output queue with OPOST processing: ONLCR maps
// "\n" to "\r\n", OCRNL "\r" to "\n"; ONLRET and ONOCR are not
// implemented (no column tracking).
func (l *lineDiscipline) emit(p []byte) {
	if len(l.out)+2*len(p) > maxOut {
		return
	}
	o := l.termios.Oflag
	if o&unix.OPOST == 0 {
		l.out = append(l.out, p...)
		return
	}
	for _, c := range p {
		switch {
		case c == '\n' && o&unix.ONLCR != 0:
			l.out = append(l.out, '\r', '\n')
		case c == '\r' && o&unix.OCRNL != 0:
			l.out = append(l.out, '\n')
		default:
			l.out = append(l.out, c)
		}
	}
}
