#!/bin/sh
# A shell pipeline: a producer, tee, sort and uniq, four processes joined by
# pipes. sort holds everything it has read in memory until the producer ends.
# The producer's numbers are also in the file progress.
i=0
while [ "$i" -lt 200 ]; do
	echo $((i * 7919 % 97))
	i=$((i + 1))
	sleep 0.05
done | tee progress | sort -n | uniq -c | sort -k1,1nr -k2,2n
echo "done"
