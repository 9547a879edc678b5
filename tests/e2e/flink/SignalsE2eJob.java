import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * The jobs of tests/e2e/flink_signals.sh. Arguments: "slow NAME" or "idle NAME".
 *
 * slow (parallelism 2): an unthrottled source, keyBy, then a map that sleeps 2 ms per record
 * (the bottleneck: busy, while the source waits for buffers, i.e. is back-pressured), chained
 * to a discarding sink.
 * idle (parallelism 1): a source of one record per second, keyBy, a map, a discarding sink.
 * Compiles against flink-dist of Flink 1.20 and 2.x alike.
 */
public class SignalsE2eJob {
    public static void main(String[] args) throws Exception {
        boolean slow = args.length > 0 && args[0].equals("slow");
        String name = args.length > 1 ? args[1] : (slow ? "signals_slow" : "signals_idle");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(slow ? 2 : 1);
        RateLimiterStrategy rate = slow
                ? RateLimiterStrategy.perSecond(1_000_000)
                : RateLimiterStrategy.perSecond(1);
        DataGeneratorSource<Long> source =
                new DataGeneratorSource<>(i -> i, Long.MAX_VALUE, rate, Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), slow ? "Fast Source" : "Idle Source")
                .keyBy(v -> v % 64)
                .map(v -> {
                    if (slow) {
                        Thread.sleep(2);
                    }
                    return v + 1;
                }).returns(Types.LONG).name(slow ? "Slow Map" : "Idle Map")
                .sinkTo(new DiscardingSink<>()).name("Discard");
        env.execute(name);
    }
}
