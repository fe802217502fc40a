package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// NetTransport is memberlist's transport over UDP (packets) and TCP
// (streams) on one address, like memberlist.NetTransport but reading every
// packet into a reused buffer (memberlist's allocates 64 KiB per packet,
// which dominates CPU and GC at thousands of purge packets per second).
// Start uses it unless Config.Transport is set; tests wrap it to inject
// faults.
type NetTransport struct {
	bind     string
	port     int
	udp      *net.UDPConn
	tcp      *net.TCPListener
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	log      *zap.Logger
	wg       sync.WaitGroup
	shutdown atomic.Bool
	done     chan struct{}
}

var _ memberlist.NodeAwareTransport = (*NetTransport)(nil)

const udpReadBuf = 65536

// NewNetTransport listens on bindAddr:port, UDP and TCP (port 0: a free
// port, the same for both).
func NewNetTransport(bindAddr string, port int, log *zap.Logger) (*NetTransport, error) {
	if log == nil {
		log = zap.NewNop()
	}
	ip := net.ParseIP(bindAddr)
	if ip == nil {
		a, err := net.ResolveIPAddr("ip", bindAddr)
		if err != nil {
			return nil, fmt.Errorf("cluster: bind address %q: %w", bindAddr, err)
		}
		ip, bindAddr = a.IP, a.IP.String()
	}
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		var t *NetTransport
		if t, err = listen(ip, bindAddr, port, log); err == nil {
			return t, nil
		}
		if port != 0 {
			break // a fixed port: no point retrying
		}
	}
	return nil, err
}

func listen(ip net.IP, bindAddr string, port int, log *zap.Logger) (*NetTransport, error) {
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip TCP listener on %s: %w", net.JoinHostPort(bindAddr, strconv.Itoa(port)), err)
	}
	port = tcp.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("cluster: gossip UDP listener on %s: %w", net.JoinHostPort(bindAddr, strconv.Itoa(port)), err)
	}
	for size := 4 << 20; size > 0; size /= 2 {
		if udp.SetReadBuffer(size) == nil {
			break
		}
	}
	t := &NetTransport{bind: bindAddr, port: port, udp: udp, tcp: tcp, log: log,
		packetCh: make(chan *memberlist.Packet, 256), streamCh: make(chan net.Conn), done: make(chan struct{})}
	t.wg.Add(2)
	go t.udpLoop()
	go t.tcpLoop()
	return t, nil
}

// Port is the bound port (UDP and TCP).
func (t *NetTransport) Port() int { return t.port }

// FinalAdvertiseAddr implements memberlist.Transport: the given address,
// else the bound one, else (bound to 0.0.0.0) a private address of this
// host.
func (t *NetTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		a := net.ParseIP(ip)
		if a == nil {
			return nil, 0, fmt.Errorf("cluster: advertise address %q is not an IP address", ip)
		}
		if a4 := a.To4(); a4 != nil {
			a = a4
		}
		if port == 0 {
			port = t.port
		}
		return a, port, nil
	}
	if t.bind == "0.0.0.0" || t.bind == "::" {
		priv, err := sockaddr.GetPrivateIP()
		if err != nil {
			return nil, 0, fmt.Errorf("cluster: finding a private address to advertise: %w", err)
		}
		if priv == "" {
			return nil, 0, errors.New("cluster: no private IP address found; set the advertise address")
		}
		return net.ParseIP(priv), t.port, nil
	}
	return t.tcp.Addr().(*net.TCPAddr).IP, t.port, nil
}

// WriteTo implements memberlist.Transport.
func (t *NetTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		ua, rerr := net.ResolveUDPAddr("udp", addr)
		if rerr != nil {
			return time.Time{}, rerr
		}
		ap = ua.AddrPort()
	}
	_, err = t.udp.WriteToUDPAddrPort(b, ap)
	return time.Now(), err
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *NetTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh implements memberlist.Transport.
func (t *NetTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout implements memberlist.Transport.
func (t *NetTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *NetTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *NetTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown implements memberlist.Transport.
func (t *NetTransport) Shutdown() error {
	if t.shutdown.Swap(true) {
		return nil
	}
	close(t.done)
	_ = t.tcp.Close()
	_ = t.udp.Close()
	t.wg.Wait()
	return nil
}

func (t *NetTransport) udpLoop() {
	defer t.wg.Done()
	buf := make([]byte, udpReadBuf)
	for {
		n, addr, err := t.udp.ReadFromUDPAddrPort(buf)
		ts := time.Now()
		if err != nil {
			if t.shutdown.Load() {
				return
			}
			t.log.Warn("gossip UDP read", zap.Error(err))
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if n < 1 {
			continue
		}
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: net.UDPAddrFromAddrPort(addr), Timestamp: ts}
		// When memberlist is behind this blocks (the kernel buffer queues
		// meanwhile) rather than drop.
		select {
		case t.packetCh <- p:
		case <-t.done:
			return
		}
	}
}

func (t *NetTransport) tcpLoop() {
	defer t.wg.Done()
	delay := time.Duration(0)
	for {
		c, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.shutdown.Load() {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("gossip TCP accept", zap.Error(err))
			time.Sleep(delay)
			continue
		}
		delay = 0
		select {
		case t.streamCh <- c:
		case <-t.done:
			_ = c.Close()
			return
		}
	}
}
