package elements

import "context"

// Actor is who a call is made for, as an audit trail names them: the entry point that took
// the call says so in its context (WithActor), and everything the call does, down to the
// writes of an org, is theirs.
type Actor struct {
	// Kind is how they came: "token" (the API token), "loopback" (the API on a loopback
	// address without a token), "member" (a member's session), "console", "script" (jitrt
	// exec, an entry script), "call" (jitrt call), "task", "event" (a platform's change
	// events), "login", "system" (the runtime itself).
	Kind string `json:"kind"`
	// ID names them within the kind: the member's id, the script's file, the task's
	// element, the console's viewer.
	ID string `json:"id,omitempty"`
	// Via says more where it helps: the login of a member's session, the corp of an event.
	Via string `json:"via,omitempty"`
}

func (a Actor) String() string {
	s := a.Kind
	if a.ID != "" {
		s += " " + a.ID
	}
	if a.Via != "" {
		s += " (" + a.Via + ")"
	}
	return s
}

type actorKey struct{}

// WithActor says who the calls made with ctx are for. The first to say it wins: a task's
// run that calls a method stays the task's, however deep the call goes.
func WithActor(ctx context.Context, a Actor) context.Context {
	if _, ok := ctx.Value(actorKey{}).(Actor); ok {
		return ctx
	}
	return context.WithValue(ctx, actorKey{}, a)
}

// WithTaskActor says the calls made with ctx are a task's: a timer's run is the task's; a
// run someone started (a manual run) is the task's too, with who started it in Via
// ("manual by member u1 (auths.loginTypes.L)"), the one place the first actor is overridden.
func WithTaskActor(ctx context.Context, task, trigger string) context.Context {
	a := Actor{Kind: "task", ID: task, Via: trigger}
	if caller, ok := ctx.Value(actorKey{}).(Actor); ok {
		a.Via = trigger + " by " + caller.String()
	}
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom is who ctx's calls are for ({Kind: "system"} when no entry point said).
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: "system"}
}
