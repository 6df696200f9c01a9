package cmd

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/google/subcommands"
)

// secret is an internal command for tests.
type secret struct{}

func (*secret) Name() string           { return "secret" }
func (*secret) Synopsis() string       { return "a hidden command" }
func (*secret) Usage() string          { return "secret\n" }
func (*secret) SetFlags(*flag.FlagSet) {}
func (*secret) Execute(_ context.Context, _ *flag.FlagSet, args ...any) subcommands.ExitStatus {
	out := StreamsFrom(args).Stdout
	out.Write([]byte("platform=" + string(ConfigFrom(args).Platform) + "\n"))
	return subcommands.ExitSuccess
}

func TestInternalCommands(t *testing.T) {
	reg := func(cdr *subcommands.Commander) {
		registerForTest(cdr)
		cdr.Register(new(secret), GroupInternal)
	}
	var out, errb strings.Builder
	if code := Main([]string{"help"}, reg, &out, &errb); code != 0 || strings.Contains(out.String(), "secret") {
		t.Errorf("help: exit %d, lists the internal command:\n%s", code, out.String())
	}
	out.Reset()
	if code := Main([]string{"--platform=kvm", "secret"}, reg, &out, &errb); code != 0 || out.String() != "platform=kvm\n" {
		t.Errorf("secret: exit %d, output %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := Main([]string{"help", "secret"}, reg, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "secret") {
		t.Errorf("help secret: exit %d, output %q", code, out.String())
	}
}
