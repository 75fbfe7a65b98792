// Package bench holds rapport's whole-system benchmarks (`make bench`). Each
// prints its figures as `name: value unit` lines so scripts can read them,
// and, where it can, a baseline measured in the same process.
package bench
