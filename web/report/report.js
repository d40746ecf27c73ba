// Draws the charts of a myostream run report from the JSON block of the page, with the inlined
// uPlot. Every time axis gets the run's events (mode switches, resets, gaps, stalls, output
// failures) as vertical lines. window.__report tells a test (or a curious reader) what was
// drawn and how long it took.
(function () {
  'use strict';
  var state = { ready: false, renderMs: null, charts: [], errors: [] };
  window.__report = state;
  window.addEventListener('error', function (e) {
    state.errors.push(String(e.message || e));
  });
  var MARK_COLORS = {
    mode_switch: '#d62728',
    reset: '#9467bd',
    gap: '#ff7f0e',
    bridged_gap: '#ffbb78',
    stall: '#8c564b',
    reinit: '#e377c2',
    overrun: '#bcbd22',
    output_failed: '#000000',
    plugin_failed: '#000000',
    error: '#000000',
    alarm: '#17becf',
    bad_samples: '#7f7f7f',
    contention: '#c7c7c7',
    config_reload: '#aec7e8',
    source_end: '#999999',
  };
  var data = JSON.parse(document.getElementById('report-data').textContent);

  function markX(chart, m) {
    return chart.xAxis === 'signal' ? m.signal_s : chart.xAxis === 'wall' ? m.wall_s : null;
  }

  function legend() {
    var counts = {};
    data.marks.forEach(function (m) {
      counts[m.kind] = (counts[m.kind] || 0) + 1;
    });
    var el = document.getElementById('marks-legend');
    var kinds = Object.keys(counts);
    if (kinds.length === 0) {
      el.textContent = 'No mode switches, resets, gaps, stalls or output failures were recorded.';
      return;
    }
    var html =
      '<b>Marked on every time axis:</b> ' +
      kinds
        .map(function (k) {
          return (
            '<span class="mk"><i style="background:' +
            (MARK_COLORS[k] || '#444') +
            '"></i>' +
            k +
            ' × ' +
            counts[k] +
            '</span>'
          );
        })
        .join(' ');
    if (data.marksDropped) html += ' (' + data.marksDropped + ' more not drawn)';
    html +=
      '<details><summary>list</summary><table>' +
      data.marks
        .slice(0, 500)
        .map(function (m) {
          return (
            '<tr><td>' +
            m.kind +
            '</td><td>' +
            (m.signal_s == null ? '' : m.signal_s + ' s signal') +
            '</td><td>' +
            (m.wall_s == null ? '' : m.wall_s + ' s wall') +
            '</td><td>' +
            m.detail.replace(/[&<>]/g, function (c) {
              return { '&': '&amp;', '<': '&lt;', '>': '&gt;' }[c];
            }) +
            '</td></tr>'
          );
        })
        .join('') +
      '</table></details>';
    el.innerHTML = html;
  }

  var LOG_FLOOR = 1e-20;

  function values(chart, s) {
    var v = Array.isArray(s.values)
      ? s.values.slice()
      : chart.x.map(function () {
          return s.values.const;
        });
    // A log axis cannot show 0, and an exact 0 (streaming equal to exact to the bit) is the best
    // figure there is: it is drawn at a floor of 1e-20, which the axis labels as such.
    if (chart.log)
      for (var i = 0; i < v.length; i++) if (v[i] != null && !(v[i] > 0)) v[i] = v[i] === 0 ? LOG_FLOOR : null;
    return v;
  }

  function drawMarks(chart) {
    return function (u) {
      var ctx = u.ctx,
        top = u.bbox.top,
        h = u.bbox.height,
        drawn = 0;
      ctx.save();
      ctx.lineWidth = Math.max(1, devicePixelRatio);
      data.marks.forEach(function (m) {
        var x = markX(chart, m);
        if (x == null || x < u.scales.x.min || x > u.scales.x.max) return;
        var px = Math.round(u.valToPos(x, 'x', true)) + 0.5;
        ctx.strokeStyle = MARK_COLORS[m.kind] || '#444';
        ctx.beginPath();
        ctx.moveTo(px, top);
        ctx.lineTo(px, top + h);
        ctx.stroke();
        drawn++;
      });
      ctx.restore();
      u.marksDrawn = drawn;
    };
  }

  function drawVlines(chart) {
    return function (u) {
      var ctx = u.ctx,
        top = u.bbox.top,
        h = u.bbox.height;
      ctx.save();
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      (chart.vlines || []).forEach(function (v) {
        var px = Math.round(u.valToPos(v.x, 'x', true)) + 0.5;
        ctx.strokeStyle = v.color;
        ctx.beginPath();
        ctx.moveTo(px, top);
        ctx.lineTo(px, top + h);
        ctx.stroke();
      });
      ctx.restore();
    };
  }

  function logTicks(u, splits) {
    return splits.map(function (v) {
      return v == null ? '' : v <= LOG_FLOOR ? '0' : v.toExponential(0);
    });
  }

  // A time axis spans the events too: a switch or a stall after the last metric still shows.
  // Only the automatic (whole-data) range is widened; a zoom the reader chose is kept.
  function xRange(chart) {
    var first = chart.x.length ? chart.x[0] : null,
      last = chart.x.length ? chart.x[chart.x.length - 1] : null;
    return function (u, min, max) {
      var auto = first == null || min == null || max == null || (min <= first && max >= last);
      if (!auto) return [min, max];
      var lo = first,
        hi = last;
      if (chart.xAxis !== 'value')
        data.marks.forEach(function (m) {
          var x = markX(chart, m);
          if (x == null) return;
          if (lo == null || x < lo) lo = x;
          if (hi == null || x > hi) hi = x;
        });
      if (lo == null || hi == null) return [0, 1];
      if (hi <= lo) {
        var pad = Math.abs(lo) * 0.05 || 1;
        return [lo - pad, hi + pad];
      }
      if (chart.bars) hi += chart.x.length > 1 ? chart.x[1] - chart.x[0] : 1;
      return [lo, hi];
    };
  }

  function make(chart, host) {
    var box = document.createElement('section');
    box.className = 'chart';
    box.id = 'chart-' + chart.id;
    var h = document.createElement('h3');
    h.textContent = chart.title;
    box.appendChild(h);
    host.appendChild(box);
    var width = Math.max(320, Math.min(1200, document.documentElement.clientWidth - 40));
    var series = [{ label: chart.xLabel }].concat(
      chart.series.map(function (s) {
        var o = { label: s.label, stroke: s.color, width: 1.5, spanGaps: !chart.bars && !s.points };
        if (s.dash) o.dash = s.dash;
        if (chart.bars && s === chart.series[0]) {
          o.paths = uPlot.paths.bars({ size: [0.95, 40], align: 1 });
          o.fill = s.color + '99';
          o.points = { show: false };
        } else if (s.points) {
          o.paths = function () {
            return null;
          };
          o.points = { show: true, size: 7, fill: s.color };
        }
        // A line needs two points: a series of one (a run with one compared block) is a dot.
        else o.points = chart.x.length < 3 ? { show: true, size: 7, fill: s.color } : { show: false };
        return o;
      }),
    );
    var opts = {
      width: width,
      height: 280,
      series: series,
      scales: { x: { time: false, range: xRange(chart) }, y: chart.log ? { distr: 3 } : {} },
      axes: [
        { label: chart.xLabel },
        chart.log ? { label: chart.yLabel, size: 70, values: logTicks } : { label: chart.yLabel, size: 70 },
      ],
      legend: { live: true },
      hooks: { draw: [chart.xAxis === 'value' ? drawVlines(chart) : drawMarks(chart)] },
    };
    var aligned = [chart.x].concat(
      chart.series.map(function (s) {
        return values(chart, s);
      }),
    );
    var u = new uPlot(opts, aligned, box);
    if (chart.note) {
      var p = document.createElement('p');
      p.className = 'note';
      p.textContent = chart.note;
      box.appendChild(p);
    }
    return u;
  }

  try {
    legend();
    var host = document.getElementById('charts');
    var plots = data.charts.map(function (c) {
      return { spec: c, u: make(c, host) };
    });
    requestAnimationFrame(function () {
      state.charts = plots.map(function (p) {
        return {
          id: p.spec.id,
          xAxis: p.spec.xAxis,
          series: p.u.series.length - 1,
          points: p.spec.x.length,
          marks: p.u.marksDrawn || 0,
          vlines: (p.spec.vlines || []).length,
        };
      });
      state.renderMs = Math.round(performance.now());
      state.ready = true;
    });
  } catch (e) {
    state.errors.push(String((e && e.stack) || e));
    state.ready = true;
    throw e;
  }
})();
