import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * The streaming job of tests/e2e/flink.sh: an unbounded, rate-limited source, a map, a keyed
 * reduce and a discarding sink, parallelism 2, running until cancelled. Compiles against
 * flink-dist of Flink 1.20 and 2.x alike. Argument: the job name (default "pushgate_e2e").
 */
public class PushgateE2eJob {
    public static void main(String[] args) throws Exception {
        String name = args.length > 0 ? args[0] : "pushgate_e2e";
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(2);
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                i -> i, Long.MAX_VALUE, RateLimiterStrategy.perSecond(100), Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "E2E Source")
                .map(v -> v * 3 + 1).returns(Types.LONG).name("E2E Map")
                .keyBy(v -> v % 8)
                .reduce((a, b) -> a + b).name("E2E Reduce")
                .sinkTo(new DiscardingSink<>()).name("E2E Sink");
        env.execute(name);
    }
}
