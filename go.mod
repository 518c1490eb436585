module gitlab.com/tacet/tacet

go 1.26.8

require (
	github.com/prometheus/procfs v0.23.0
	github.com/tinylib/msgp v1.6.5
	github.com/xtaci/kcp-go/v5 v5.7.6
	golang.org/x/sys v0.50.0
)

require (
	github.com/juju/ratelimit v1.0.2 // indirect
	github.com/klauspost/cpuid/v2 v2.4.1 // indirect
	github.com/klauspost/reedsolomon v1.14.2 // indirect
	github.com/kr/pretty v0.3.1 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/pion/transport/v5 v5.1.4 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/tjfoc/gmsm v1.4.1 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/mod v0.18.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/tools v0.22.0 // indirect
)

tool github.com/tinylib/msgp
