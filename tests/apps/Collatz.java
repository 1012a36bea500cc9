// A JVM job: Collatz stopping times over growing ranges, with its state (a
// HashMap cache, a running record) on the Java heap across a checkpoint.
// Each step prints the record holder so far and the cache's size.
import java.util.HashMap;

public class Collatz {
    public static void main(String[] args) throws InterruptedException {
        HashMap<Long, Integer> cache = new HashMap<>();
        long best = 1;
        int bestSteps = 0;
        long n = 1;
        for (int s = 1; s <= 200; s++) {
            for (int k = 0; k < 2000; k++, n++) {
                long m = n;
                int steps = 0;
                while (m != 1) {
                    Integer known = cache.get(m);
                    if (known != null) { steps += known; break; }
                    m = (m % 2 == 0) ? m / 2 : 3 * m + 1;
                    steps++;
                }
                cache.put(n, steps);
                if (steps > bestSteps) { bestSteps = steps; best = n; }
            }
            System.out.println("step " + s + " best " + best + " steps " + bestSteps + " cached " + cache.size());
            System.out.flush();
            Thread.sleep(50); // paces the job: a checkpoint lands midway on any machine
        }
        System.out.println("done");
    }
}
