package netstack

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/vfs"
)

// flagOpt is a boolean option kept in tcpip.SocketOptions.
type flagOpt struct {
	get func(*tcpip.SocketOptions) bool
	set func(*tcpip.SocketOptions, bool)
	// invert is set for TCP_NODELAY, which is the stack's "delay" negated.
	invert bool
}

// flagOpts are the boolean options the stack implements, by level and name.
var flagOpts = map[[2]int]flagOpt{
	{unix.SOL_SOCKET, unix.SO_REUSEADDR}:  {(*tcpip.SocketOptions).GetReuseAddress, (*tcpip.SocketOptions).SetReuseAddress, false},
	{unix.SOL_SOCKET, unix.SO_REUSEPORT}:  {(*tcpip.SocketOptions).GetReusePort, (*tcpip.SocketOptions).SetReusePort, false},
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE}:  {(*tcpip.SocketOptions).GetKeepAlive, (*tcpip.SocketOptions).SetKeepAlive, false},
	{unix.SOL_SOCKET, unix.SO_BROADCAST}:  {(*tcpip.SocketOptions).GetBroadcast, (*tcpip.SocketOptions).SetBroadcast, false},
	{unix.SOL_TCP, unix.TCP_NODELAY}:      {(*tcpip.SocketOptions).GetDelayOption, (*tcpip.SocketOptions).SetDelayOption, true},
	{unix.SOL_TCP, unix.TCP_CORK}:         {(*tcpip.SocketOptions).GetCorkOption, (*tcpip.SocketOptions).SetCorkOption, false},
	{unix.SOL_TCP, unix.TCP_QUICKACK}:     {(*tcpip.SocketOptions).GetQuickAck, (*tcpip.SocketOptions).SetQuickAck, false},
	{unix.SOL_IP, unix.IP_RECVTOS}:        {(*tcpip.SocketOptions).GetReceiveTOS, (*tcpip.SocketOptions).SetReceiveTOS, false},
	{unix.SOL_IP, unix.IP_PKTINFO}:        {(*tcpip.SocketOptions).GetReceivePacketInfo, (*tcpip.SocketOptions).SetReceivePacketInfo, false},
	{unix.SOL_IP, unix.IP_MULTICAST_LOOP}: {(*tcpip.SocketOptions).GetMulticastLoop, (*tcpip.SocketOptions).SetMulticastLoop, false},
}

// intOpts are the integer options the stack implements.
var intOpts = map[[2]int]tcpip.SockOptInt{
	{unix.SOL_IP, unix.IP_TTL}:              tcpip.IPv4TTLOption,
	{unix.SOL_IP, unix.IP_TOS}:              tcpip.IPv4TOSOption,
	{unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS}: tcpip.IPv6HopLimitOption,
	{unix.SOL_IPV6, unix.IPV6_TCLASS}:       tcpip.IPv6TrafficClassOption,
	{unix.SOL_TCP, unix.TCP_KEEPCNT}:        tcpip.KeepaliveCountOption,
	{unix.SOL_TCP, unix.TCP_MAXSEG}:         tcpip.MaxSegOption,
	{unix.SOL_TCP, unix.TCP_SYNCNT}:         tcpip.TCPSynCountOption,
}

// levelOK reports whether options of level apply to s (ENOPROTOOPT if not).
func (s *Socket) levelOK(level int) bool {
	switch level {
	case unix.SOL_SOCKET, unix.SOL_IP:
		return true
	case unix.SOL_TCP:
		return s.Protocol == unix.IPPROTO_TCP
	case unix.SOL_UDP:
		return s.Protocol == unix.IPPROTO_UDP
	case unix.SOL_IPV6:
		return s.Family == unix.AF_INET6
	}
	return false
}

// GetSockOpt implements getsockopt(2).
func (s *Socket) GetSockOpt(ctx vfs.Context, level, name int) ([]byte, error) {
	if !s.levelOK(level) {
		return nil, unix.ENOPROTOOPT
	}
	so := s.ep.SocketOptions()
	key := [2]int{level, name}
	if f, ok := flagOpts[key]; ok {
		return socket.Bool(f.get(so) != f.invert), nil
	}
	if o, ok := intOpts[key]; ok {
		v, e := s.ep.GetSockOptInt(o)
		if e != nil {
			return nil, errno(e)
		}
		if v == tcpip.UseDefaultIPv4TTL && o == tcpip.IPv4TTLOption || v == tcpip.UseDefaultIPv6HopLimit && o == tcpip.IPv6HopLimitOption {
			v = 64
		}
		return socket.Int(int32(v)), nil
	}
	switch key {
	case [2]int{unix.SOL_SOCKET, unix.SO_ERROR}:
		e := errno(so.GetLastError())
		if e == nil {
			return socket.Int(0), nil
		}
		return socket.Int(int32(e.(unix.Errno))), nil
	case [2]int{unix.SOL_SOCKET, unix.SO_SNDBUF}:
		return socket.Int(int32(so.GetSendBufferSize())), nil
	case [2]int{unix.SOL_SOCKET, unix.SO_RCVBUF}:
		return socket.Int(int32(so.GetReceiveBufferSize())), nil
	case [2]int{unix.SOL_SOCKET, unix.SO_ACCEPTCONN}:
		return socket.Bool(s.listening.Load()), nil
	case [2]int{unix.SOL_SOCKET, unix.SO_LINGER}:
		return lingerBytes(so.GetLinger()), nil
	case [2]int{unix.SOL_SOCKET, unix.SO_PEERCRED}:
		return nil, unix.ENOPROTOOPT
	case [2]int{unix.SOL_IPV6, unix.IPV6_V6ONLY}:
		return socket.Bool(so.GetV6Only()), nil
	case [2]int{unix.SOL_TCP, unix.TCP_KEEPIDLE}, [2]int{unix.SOL_TCP, unix.TCP_KEEPINTVL}:
		var d time.Duration
		var e tcpip.Error
		if name == unix.TCP_KEEPIDLE {
			var o tcpip.KeepaliveIdleOption
			e = s.ep.GetSockOpt(&o)
			d = time.Duration(o)
		} else {
			var o tcpip.KeepaliveIntervalOption
			e = s.ep.GetSockOpt(&o)
			d = time.Duration(o)
		}
		if e != nil {
			return nil, errno(e)
		}
		return socket.Int(int32(d / time.Second)), nil
	case [2]int{unix.SOL_TCP, unix.TCP_INFO}:
		return s.tcpInfo(), nil
	case [2]int{unix.SOL_TCP, unix.TCP_CONGESTION}:
		var o tcpip.CongestionControlOption
		if e := s.ep.GetSockOpt(&o); e != nil {
			return nil, errno(e)
		}
		b := make([]byte, 16) // TCP_CA_NAME_MAX
		copy(b, o)
		return b, nil
	}
	if v, ok, err := s.GetSockOptCommon(level, name); ok || err != nil {
		return v, err
	}
	return nil, unix.ENOPROTOOPT
}

// tcpInfo returns a struct tcp_info with the state (in Linux's numbering,
// which the stack's states up to TCP_CLOSING share) and round-trip times.
func (s *Socket) tcpInfo() []byte {
	b := make([]byte, 232)
	var o tcpip.TCPInfoOption
	if s.ep.GetSockOpt(&o) != nil {
		b[0] = 7 // TCP_CLOSE
		return b
	}
	st := tcp.EndpointState(o.State)
	switch {
	case st >= tcp.StateEstablished && st <= tcp.StateClosing:
		b[0] = byte(st)
	case st == tcp.StateConnecting:
		b[0] = byte(tcp.StateSynSent)
	default:
		b[0] = 7 // TCP_CLOSE: initial, bound, error
	}
	binary.LittleEndian.PutUint32(b[68:], uint32(o.RTT/time.Microsecond))    // tcpi_rtt
	binary.LittleEndian.PutUint32(b[72:], uint32(o.RTTVar/time.Microsecond)) // tcpi_rttvar
	binary.LittleEndian.PutUint32(b[80:], o.SndCwnd)                         // tcpi_snd_cwnd
	return b
}

// SetSockOpt implements setsockopt(2).
func (s *Socket) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	if !s.levelOK(level) {
		return unix.ENOPROTOOPT
	}
	so := s.ep.SocketOptions()
	key := [2]int{level, name}
	switch key {
	case [2]int{unix.SOL_SOCKET, unix.SO_LINGER}:
		if len(val) < 8 {
			return unix.EINVAL
		}
		so.SetLinger(tcpip.LingerOption{
			Enabled: binary.LittleEndian.Uint32(val) != 0,
			Timeout: time.Duration(int32(binary.LittleEndian.Uint32(val[4:]))) * time.Second,
		})
		return nil
	case [2]int{unix.SOL_TCP, unix.TCP_CONGESTION}:
		n := len(val)
		for i, c := range val {
			if c == 0 {
				n = i
				break
			}
		}
		o := tcpip.CongestionControlOption(val[:n])
		return errno(s.ep.SetSockOpt(&o))
	}
	f, isFlag := flagOpts[key]
	o, isInt := intOpts[key]
	switch key {
	case [2]int{unix.SOL_SOCKET, unix.SO_SNDBUF}, [2]int{unix.SOL_SOCKET, unix.SO_RCVBUF},
		[2]int{unix.SOL_IPV6, unix.IPV6_V6ONLY},
		[2]int{unix.SOL_TCP, unix.TCP_KEEPIDLE}, [2]int{unix.SOL_TCP, unix.TCP_KEEPINTVL}:
	default:
		if !isFlag && !isInt {
			if ok, err := s.SetSockOptCommon(level, name, val); ok || err != nil {
				return err
			}
			return unix.ENOPROTOOPT
		}
	}
	v, err := socket.ParseInt(val)
	if err != nil {
		return err
	}
	switch {
	case isFlag:
		f.set(so, (v != 0) != f.invert)
		return nil
	case isInt:
		switch {
		case o == tcpip.IPv4TTLOption && v == -1:
			v = tcpip.UseDefaultIPv4TTL
		case o == tcpip.IPv4TTLOption && (v < 1 || v > 255), o == tcpip.KeepaliveCountOption && (v < 1 || v > 127):
			return unix.EINVAL
		case o == tcpip.IPv4TOSOption:
			v &= 0xff
		}
		return errno(s.ep.SetSockOptInt(o, int(v)))
	}
	switch name {
	case unix.SO_SNDBUF:
		so.SetSendBufferSize(int64(v)*2, true)
	case unix.SO_RCVBUF:
		so.SetReceiveBufferSize(int64(v)*2, true)
	case unix.IPV6_V6ONLY:
		if fa, _ := s.ep.GetLocalAddress(); fa.Port != 0 {
			return unix.EINVAL
		}
		so.SetV6Only(v != 0)
	case unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL:
		if v < 1 || v > 32767 {
			return unix.EINVAL
		}
		d := time.Duration(v) * time.Second
		if name == unix.TCP_KEEPIDLE {
			opt := tcpip.KeepaliveIdleOption(d)
			return errno(s.ep.SetSockOpt(&opt))
		}
		opt := tcpip.KeepaliveIntervalOption(d)
		return errno(s.ep.SetSockOpt(&opt))
	}
	return nil
}
