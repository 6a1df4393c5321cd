package plugin

// Regenerate the protocol code with `go generate ./pkg/plugin/...`. It needs
// protoc on PATH and the generators installed into .tools/bin at the module
// root:
//
//	GOBIN=$PWD/.tools/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	GOBIN=$PWD/.tools/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//
// The generated files are committed, so building and testing need neither.

//go:generate protoc --plugin=protoc-gen-go=../../.tools/bin/protoc-gen-go --plugin=protoc-gen-go-grpc=../../.tools/bin/protoc-gen-go-grpc --proto_path=internal/pb --go_out=internal/pb --go_opt=paths=source_relative --go-grpc_out=internal/pb --go-grpc_opt=paths=source_relative verifier/v1/verifier.proto
