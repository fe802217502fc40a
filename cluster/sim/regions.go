package main

import (
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

// regionNames are six AWS regions on five continents.
var regionNames = []string{"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2", "sa-east-1"}

// rttMS is the round trip between regions in milliseconds, rounded
// medians in the range published by cloudping.co for AWS inter-region
// pings (see cluster/README.md, "Simulated wide-area cluster"); inside a
// region 1 ms (between availability zones).
var rttMS = [6][6]float64{
	{1, 67, 68, 145, 198, 115},
	{67, 1, 120, 97, 140, 175},
	{68, 120, 1, 200, 255, 178},
	{145, 97, 200, 1, 105, 255},
	{198, 140, 255, 105, 1, 310},
	{115, 175, 178, 255, 310, 1},
}

// links: the matrix with jitter 1 ms + 5 % of the round trip and the
// same loss on every link.
func links(loss float64) [][]clustertest.Link {
	out := make([][]clustertest.Link, len(rttMS))
	for a := range rttMS {
		out[a] = make([]clustertest.Link, len(rttMS))
		for b, ms := range rttMS[a] {
			rtt := time.Duration(ms * float64(time.Millisecond))
			out[a][b] = clustertest.Link{RTT: rtt, Jitter: time.Millisecond + rtt/20, Loss: loss}
		}
	}
	return out
}

// floor is the physical bound on "applied everywhere" for a purge
// accepted in region r: the largest one-way latency from r.
func floor(r int) time.Duration {
	var m float64
	for _, ms := range rttMS[r] {
		m = max(m, ms/2)
	}
	return time.Duration(m * float64(time.Millisecond))
}
