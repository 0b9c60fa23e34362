// The ECharts the dashboard loads: only the charts and components it draws
// (line and bar series on cartesian value, time and category axes, axis
// tooltips, legends, mark areas for alerts), bundled by esbuild
// during setup into public/vendor/echarts.min.js and exposed as the global
// `echarts` that charming's WASM renderer calls. Add a chart type or
// component here before using it from Rust.
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import {
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  TooltipComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([
  BarChart,
  LineChart,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  TooltipComponent,
  CanvasRenderer,
]);

globalThis.echarts = echarts;
