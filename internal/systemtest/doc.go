// Package systemtest proves rapport's delivery promises (SPEC "Behaviour that
// must hold" 5–7) against real processes: it builds the rapport and smtpsink
// binaries, starts an API process, a scheduler and worker processes against
// one fresh PostgreSQL database, and a separate SMTP sink process that
// journals every message it accepts, then
//
//   - kills workers with SIGKILL mid-send and checks that nothing was sent
//     twice and that everything the sink received is recorded (crash test);
//   - stops the sink mid-campaign and checks that nothing was lost or
//     duplicated (outage test);
//   - measures the global and per-domain send rates at the sink (throttle
//     tests);
//   - unsubscribes contacts while their messages are queued and checks that
//     none arrives after the unsubscribe committed (unsubscribe race test).
//
// The package has only tests; `make crashtest` runs them alone.
package systemtest
