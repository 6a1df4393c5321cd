package registrytest

import (
	"fmt"
	"net"
	"net/http/httptest"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
)

// StartOlaregOn is StartOlareg on a fixed address such as
// "127.0.0.1:5000", for programs whose output names the registry (the
// demo). The caller must Close the server.
func StartOlaregOn(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("registrytest: listen on %s: %w", addr, err)
	}
	reg := olareg.New(config.Config{Storage: config.ConfigStorage{StoreType: config.StoreMem}})
	ts := httptest.NewUnstartedServer(reg)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	return &Server{
		host: ln.Addr().String(),
		close: func() {
			ts.Close()
			_ = reg.Close()
		},
	}, nil
}
