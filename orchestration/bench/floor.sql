-- The benchmark floor: the 16 KPIs at every grain (day, week, month, quarter, year) and
-- every slice that kpi.kpi_values has (the whole company and each dimension value any
-- record has, in every period of the calendar), computed in one query straight from the
-- landing files, with as little of the contract as it takes to get the numbers right. It
-- is what the pipeline's work on kpi_values would cost without Dagster, dbt, Great
-- Expectations, quarantine bookkeeping, targets, status and the other published tables.
--
-- Paths are relative to the landing directory: run it with `file_search_path` set to it
-- (or from inside it). It reads the delivery formats the demo generator writes: Parquet
-- for tickets, order lines, production runs and attendance, CSV and Parquet for orders,
-- CSV for the rest; sales targets are not needed for the numbers.
--
-- What it keeps of the contract: a row is valid when its key and required columns are
-- present, every present value parses (try_cast; booleans by their listed spellings),
-- enums (trimmed) are in their lists and the entity's rules hold; per key the valid row
-- with the greatest updated_at wins, then the later delivery (file names in byte order),
-- then the later row. Timestamps with an offset are converted to UTC; without one they
-- are UTC. Then the catalog's as-of date, cut-off and formulas.

set TimeZone = 'UTC';

with

-- ---------------------------------------------------------------------------------------
-- crm
-- ---------------------------------------------------------------------------------------

accounts_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        nullif(account_id, '') as account_id,
        nullif(account_name, '') as account_name,
        trim(segment) as segment,
        nullif(region, '') as region,
        nullif(created_at, '') as created_text,
        nullif(churned_at, '') as churned_text,
        timezone('UTC', try_cast(created_at as timestamptz)) as created_at,
        timezone('UTC', try_cast(churned_at as timestamptz)) as churned_at,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from read_csv(
        'crm/accounts/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

accounts as materialized (
    select account_id, segment, region, created_at, churned_at
    from accounts_read
    where
        account_id is not null
        and account_name is not null
        and segment in ('smb', 'mid_market', 'enterprise')
        and region is not null
        and created_at is not null
        and updated_at is not null
        and (churned_text is null or churned_at is not null)
        and coalesce(churned_at >= created_at, true)
    qualify row_number() over (
        partition by account_id order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

leads_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        nullif(lead_id, '') as lead_id,
        trim(source) as source,
        nullif(region, '') as region,
        trim(status) as status,
        nullif(converted_at, '') as converted_text,
        timezone('UTC', try_cast(created_at as timestamptz)) as created_at,
        timezone('UTC', try_cast(converted_at as timestamptz)) as converted_at,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from read_csv(
        'crm/leads/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

leads as materialized (
    select lead_id, source, region, created_at, converted_at
    from leads_read
    where
        lead_id is not null
        and created_at is not null
        and source in ('web', 'referral', 'event', 'paid_search', 'outbound')
        and region is not null
        and status in ('open', 'qualified', 'converted', 'disqualified')
        and updated_at is not null
        and (converted_text is null or converted_at is not null)
        and coalesce(converted_at >= created_at, true)
    qualify row_number() over (
        partition by lead_id order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

opportunities_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        nullif(opportunity_id, '') as opportunity_id,
        nullif(account_id, '') as account_id,
        trim(stage) as stage,
        try_cast(amount as decimal(18, 4)) as amount,
        nullif(currency, '') as currency,
        nullif(closed_at, '') as closed_text,
        timezone('UTC', try_cast(created_at as timestamptz)) as created_at,
        timezone('UTC', try_cast(closed_at as timestamptz)) as closed_at,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from read_csv(
        'crm/opportunities/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

opportunities as materialized (
    select opportunity_id, account_id, created_at, stage, closed_at
    from opportunities_read
    where
        opportunity_id is not null
        and account_id is not null
        and created_at is not null
        and stage in ('prospecting', 'proposal', 'negotiation', 'closed_won', 'closed_lost')
        and amount >= 0
        and currency is not null
        and updated_at is not null
        and (closed_text is null or closed_at is not null)
        and (stage not in ('closed_won', 'closed_lost') or closed_at is not null)
        and coalesce(closed_at >= created_at, true)
    qualify row_number() over (
        partition by opportunity_id
        order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

-- Parquet deliveries: timestamps are typed (UTC), the score an integer column.
tickets as materialized (
    select
        nullif(ticket_id, '') as ticket_id,
        timezone('UTC', created_at) as created_at,
        trim(priority) as priority,
        trim(channel) as channel,
        timezone('UTC', first_response_at) as first_response_at,
        timezone('UTC', resolved_at) as resolved_at,
        satisfaction_score
    from read_parquet(
        'crm/tickets/*.parquet', union_by_name = true, filename = true, file_row_number = true
    )
    where
        nullif(ticket_id, '') is not null
        and created_at is not null
        and trim(priority) in ('low', 'normal', 'high', 'urgent')
        and trim(channel) in ('email', 'phone', 'chat', 'portal')
        and updated_at is not null
        and coalesce(first_response_at >= created_at, true)
        and coalesce(resolved_at >= created_at, true)
        and coalesce(satisfaction_score between 1 and 5, true)
    qualify row_number() over (
        partition by nullif(ticket_id, '')
        order by updated_at desc, filename desc, file_row_number desc
    ) = 1
),

sla_policies_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        trim(priority) as priority,
        try_cast(first_response_hours as decimal(18, 4)) as first_response_hours,
        try_cast(resolution_hours as decimal(18, 4)) as resolution_hours
    from read_csv(
        'crm/sla_policies/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

sla_policies as (
    select priority, resolution_hours
    from sla_policies_read
    where
        priority in ('low', 'normal', 'high', 'urgent')
        and first_response_hours > 0
        and resolution_hours > 0
    qualify row_number() over (
        partition by priority order by delivery_file desc, delivery_row desc
    ) = 1
),

marketing_spend_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        try_cast(spend_date as date) as spend_date,
        trim(channel) as channel,
        nullif(region, '') as region,
        try_cast(amount as decimal(18, 4)) as amount,
        nullif(currency, '') as currency
    from read_csv(
        'crm/marketing_spend/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

marketing_spend as materialized (
    select spend_date, channel, region, amount, currency
    from marketing_spend_read
    where
        spend_date is not null
        and channel in ('web', 'referral', 'event', 'paid_search', 'outbound')
        and region is not null
        and amount >= 0
        and currency is not null
    qualify row_number() over (
        partition by spend_date, channel, region order by delivery_file desc, delivery_row desc
    ) = 1
),

-- ---------------------------------------------------------------------------------------
-- sales
-- ---------------------------------------------------------------------------------------

products_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        nullif(product_id, '') as product_id,
        nullif(product_name, '') as product_name,
        nullif(category, '') as category,
        try_cast(unit_cost as decimal(18, 4)) as unit_cost,
        nullif(list_price, '') as list_price_text,
        try_cast(list_price as decimal(18, 4)) as list_price,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from read_csv(
        'sales/products/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

products as (
    select product_id, unit_cost
    from products_read
    where
        product_id is not null
        and product_name is not null
        and category is not null
        and unit_cost >= 0
        and (list_price_text is null or list_price is not null)
        and updated_at is not null
    qualify row_number() over (
        partition by product_id order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

-- Orders come as CSV and as Parquet deliveries; both are read as text, then typed once.
orders_delivered as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        order_id, account_id, ordered_at, status, channel, region, currency, fulfilled_at,
        updated_at
    from read_csv(
        'sales/orders/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )

    union all by name

    select
        filename as delivery_file,
        file_row_number as delivery_row,
        order_id, account_id,
        cast(ordered_at as varchar) as ordered_at,
        status, channel, region, currency,
        cast(fulfilled_at as varchar) as fulfilled_at,
        cast(updated_at as varchar) as updated_at
    from read_parquet(
        'sales/orders/*.parquet', union_by_name = true, filename = true, file_row_number = true
    )
),

orders_read as (
    select
        delivery_file,
        delivery_row,
        nullif(order_id, '') as order_id,
        nullif(account_id, '') as account_id,
        trim(status) as status,
        trim(channel) as channel,
        nullif(region, '') as region,
        nullif(currency, '') as currency,
        nullif(fulfilled_at, '') as fulfilled_text,
        timezone('UTC', try_cast(ordered_at as timestamptz)) as ordered_at,
        timezone('UTC', try_cast(fulfilled_at as timestamptz)) as fulfilled_at,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from orders_delivered
),

orders as materialized (
    select order_id, ordered_at, status, channel, region, currency, fulfilled_at
    from orders_read
    where
        order_id is not null
        and account_id is not null
        and ordered_at is not null
        and status in ('placed', 'fulfilled', 'cancelled', 'returned')
        and channel in ('online', 'direct', 'partner')
        and region is not null
        and currency is not null
        and updated_at is not null
        and (fulfilled_text is null or fulfilled_at is not null)
        and coalesce(fulfilled_at >= ordered_at, true)
    qualify row_number() over (
        partition by order_id order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

-- Parquet deliveries: prices as text, quantities and line numbers as integers.
order_lines_read as (
    select
        filename as delivery_file,
        file_row_number as delivery_row,
        nullif(order_id, '') as order_id,
        line_number,
        nullif(product_id, '') as product_id,
        quantity,
        try_cast(unit_price as decimal(18, 4)) as unit_price,
        nullif(discount_amount, '') as discount_text,
        try_cast(discount_amount as decimal(18, 4)) as discount_amount
    from read_parquet(
        'sales/order_lines/*.parquet', union_by_name = true, filename = true,
        file_row_number = true
    )
),

order_lines as (
    select order_id, product_id, quantity, unit_price, discount_amount
    from order_lines_read
    where
        order_id is not null
        and line_number is not null
        and product_id is not null
        and quantity > 0
        and unit_price >= 0
        and (discount_text is null or discount_amount >= 0)
    qualify row_number() over (
        partition by order_id, line_number order by delivery_file desc, delivery_row desc
    ) = 1
),

fx_rates_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        try_cast(rate_date as date) as rate_date,
        nullif(currency, '') as currency,
        try_cast(usd_per_unit as decimal(18, 4)) as usd_per_unit
    from read_csv(
        'sales/fx_rates/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

fx_rates as materialized (
    select rate_date, currency, usd_per_unit
    from fx_rates_read
    where rate_date is not null and currency is not null and usd_per_unit > 0
    qualify row_number() over (
        partition by rate_date, currency order by delivery_file desc, delivery_row desc
    ) = 1
),

-- ---------------------------------------------------------------------------------------
-- ops
-- ---------------------------------------------------------------------------------------

shipments_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        nullif(shipment_id, '') as shipment_id,
        nullif(order_id, '') as order_id,
        nullif(carrier, '') as carrier,
        nullif(delivered_at, '') as delivered_text,
        timezone('UTC', try_cast(shipped_at as timestamptz)) as shipped_at,
        timezone('UTC', try_cast(promised_at as timestamptz)) as promised_at,
        timezone('UTC', try_cast(delivered_at as timestamptz)) as delivered_at,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from read_csv(
        'ops/shipments/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

shipments as materialized (
    select shipment_id, order_id, carrier, shipped_at, promised_at, delivered_at
    from shipments_read
    where
        shipment_id is not null
        and order_id is not null
        and carrier is not null
        and shipped_at is not null
        and promised_at is not null
        and updated_at is not null
        and (delivered_text is null or delivered_at is not null)
        and coalesce(delivered_at >= shipped_at, true)
    qualify row_number() over (
        partition by shipment_id order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

-- Parquet deliveries with timestamps as text.
production_runs_read as (
    select
        filename as delivery_file,
        file_row_number as delivery_row,
        nullif(run_id, '') as run_id,
        nullif(plant, '') as plant,
        timezone('UTC', try_cast(started_at as timestamptz)) as started_at,
        timezone('UTC', try_cast(ended_at as timestamptz)) as ended_at,
        units_produced,
        units_defective,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from read_parquet(
        'ops/production_runs/*.parquet', union_by_name = true, filename = true,
        file_row_number = true
    )
),

production_runs as materialized (
    select run_id, plant, ended_at, units_produced, units_defective
    from production_runs_read
    where
        run_id is not null
        and plant is not null
        and started_at is not null
        and ended_at >= started_at
        and units_produced is not null
        and units_defective >= 0
        and units_defective <= units_produced
        and updated_at is not null
    qualify row_number() over (
        partition by run_id order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

services_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        nullif(service_id, '') as service_id,
        nullif(service_name, '') as service_name,
        trim(tier) as tier,
        try_cast(availability_target as decimal(18, 4)) as availability_target
    from read_csv(
        'ops/services/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

services as materialized (
    select service_id
    from services_read
    where
        service_id is not null
        and service_name is not null
        and tier in ('tier_1', 'tier_2', 'tier_3')
        and availability_target > 0
        and availability_target <= 1
    qualify row_number() over (
        partition by service_id order by delivery_file desc, delivery_row desc
    ) = 1
),

incidents_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        nullif(incident_id, '') as incident_id,
        nullif(service_id, '') as service_id,
        trim(severity) as severity,
        -- The contract's spellings only: DuckDB's cast would also take 'yes' or 't'.
        case lower(trim(is_outage))
            when 'true' then true when '1' then true
            when 'false' then false when '0' then false
        end as is_outage,
        nullif(resolved_at, '') as resolved_text,
        timezone('UTC', try_cast(started_at as timestamptz)) as started_at,
        timezone('UTC', try_cast(resolved_at as timestamptz)) as resolved_at,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from read_csv(
        'ops/incidents/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

incidents as materialized (
    select incident_id, service_id, is_outage, started_at, resolved_at
    from incidents_read
    where
        incident_id is not null
        and service_id is not null
        and severity in ('sev1', 'sev2', 'sev3')
        and is_outage is not null
        and started_at is not null
        and updated_at is not null
        and (resolved_text is null or resolved_at is not null)
        and coalesce(resolved_at >= started_at, true)
    qualify row_number() over (
        partition by incident_id order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

-- Parquet deliveries: naive (UTC) timestamps, hours as a double.
attendance as materialized (
    select
        nullif(employee_id, '') as employee_id,
        work_date,
        cast(scheduled_hours as decimal(18, 4)) as scheduled_hours,
        timezone('UTC', check_in_at) as check_in_at
    from read_parquet(
        'ops/attendance/*.parquet', union_by_name = true, filename = true, file_row_number = true
    )
    where
        nullif(employee_id, '') is not null
        and work_date is not null
        and cast(scheduled_hours as decimal(18, 4)) >= 0
        and coalesce(check_out_at >= check_in_at, true)
    qualify row_number() over (
        partition by nullif(employee_id, ''), work_date
        order by filename desc, file_row_number desc
    ) = 1
),

employees_read as (
    select
        filename as delivery_file,
        row_number() over () as delivery_row,
        nullif(employee_id, '') as employee_id,
        nullif(full_name, '') as full_name,
        nullif(department, '') as department,
        nullif(terminated_at, '') as terminated_text,
        try_cast(hired_at as date) as hired_at,
        try_cast(terminated_at as date) as terminated_at,
        timezone('UTC', try_cast(updated_at as timestamptz)) as updated_at
    from read_csv(
        'ops/employees/*.csv',
        header = true, delim = ',', quote = '"', escape = '"',
        all_varchar = true, union_by_name = true, filename = true
    )
),

employees as (
    select employee_id, department
    from employees_read
    where
        employee_id is not null
        and full_name is not null
        and department is not null
        and hired_at is not null
        and (terminated_text is null or terminated_at is not null)
        and updated_at is not null
    qualify row_number() over (
        partition by employee_id order by updated_at desc, delivery_file desc, delivery_row desc
    ) = 1
),

-- ---------------------------------------------------------------------------------------
-- time: the as-of date, the cut-off and the periods of every grain
-- ---------------------------------------------------------------------------------------

anchors as (
    select cast(created_at as date) as anchor_date from accounts
    union all select cast(created_at as date) from leads
    union all select cast(created_at as date) from opportunities
    union all select cast(created_at as date) from tickets
    union all select spend_date from marketing_spend
    union all select cast(ordered_at as date) from orders
    union all select cast(shipped_at as date) from shipments
    union all select cast(ended_at as date) from production_runs
    union all select cast(started_at as date) from incidents
    union all select work_date from attendance
),

time_frame as (
    select
        max(anchor_date) as as_of_date,
        min(anchor_date) as first_anchor_date,
        cast(max(anchor_date) + interval 1 day as timestamp) as cutoff_at
    from anchors
),

grains as (
    select unnest(['day', 'week', 'month', 'quarter', 'year']) as grain
),

-- Every period of every grain from the one holding the earliest anchor date to the one
-- holding the as-of date (weeks start on Monday). A period's span runs up to the earlier
-- of its end and the cut-off.
periods as materialized (
    select
        grain,
        period_start,
        cast(period_start as timestamp) as start_at,
        least(cast(period_end as timestamp), cutoff_at) as end_at,
        epoch_us(least(cast(period_end as timestamp), cutoff_at))
        - epoch_us(cast(period_start as timestamp)) as length_us
    from (
        select distinct
            grains.grain,
            time_frame.cutoff_at,
            cast(date_trunc(grains.grain, days.day_at) as date) as period_start,
            cast(
                date_trunc(grains.grain, days.day_at) + case grains.grain
                    when 'day' then interval 1 day
                    when 'week' then interval 7 day
                    when 'month' then interval 1 month
                    when 'quarter' then interval 3 month
                    else interval 1 year
                end
                as date
            ) as period_end
        from time_frame
        cross join generate_series(
            cast(time_frame.first_anchor_date as timestamp),
            cast(time_frame.as_of_date as timestamp),
            interval 1 day
        ) as days (day_at)
        cross join grains
    )
),

-- ---------------------------------------------------------------------------------------
-- rows as of the cut-off: anchors at or after it are left out, later events read as null
-- ---------------------------------------------------------------------------------------

accounts_as_of as materialized (
    select
        accounts.account_id,
        accounts.segment,
        accounts.region,
        accounts.created_at,
        case when accounts.churned_at < time_frame.cutoff_at then accounts.churned_at end
            as churned_at
    from accounts, time_frame
    where accounts.created_at < time_frame.cutoff_at
),

leads_as_of as (
    select
        leads.source,
        leads.region,
        leads.created_at,
        case when leads.converted_at < time_frame.cutoff_at then leads.converted_at end
            as converted_at
    from leads, time_frame
    where leads.created_at < time_frame.cutoff_at
),

opportunities_as_of as (
    select
        opportunities.account_id,
        opportunities.stage,
        case when opportunities.closed_at < time_frame.cutoff_at then opportunities.closed_at end
            as closed_at
    from opportunities, time_frame
    where opportunities.created_at < time_frame.cutoff_at
),

tickets_as_of as materialized (
    select
        tickets.created_at,
        tickets.priority,
        tickets.channel,
        tickets.satisfaction_score,
        case when tickets.first_response_at < time_frame.cutoff_at then tickets.first_response_at end
            as first_response_at,
        case when tickets.resolved_at < time_frame.cutoff_at then tickets.resolved_at end
            as resolved_at
    from tickets, time_frame
    where tickets.created_at < time_frame.cutoff_at
),

marketing_spend_as_of as (
    select marketing_spend.*
    from marketing_spend, time_frame
    where marketing_spend.spend_date <= time_frame.as_of_date
),

orders_as_of as materialized (
    select
        orders.order_id,
        orders.ordered_at,
        orders.status,
        orders.channel,
        orders.region,
        orders.currency,
        case when orders.fulfilled_at < time_frame.cutoff_at then orders.fulfilled_at end
            as fulfilled_at
    from orders, time_frame
    where orders.ordered_at < time_frame.cutoff_at
),

shipments_as_of as (
    select
        shipments.order_id,
        shipments.carrier,
        shipments.promised_at,
        case when shipments.delivered_at < time_frame.cutoff_at then shipments.delivered_at end
            as delivered_at
    from shipments, time_frame
    where shipments.shipped_at < time_frame.cutoff_at
),

production_runs_as_of as (
    select production_runs.*
    from production_runs, time_frame
    where production_runs.ended_at < time_frame.cutoff_at
),

incidents_as_of as (
    select
        incidents.service_id,
        incidents.is_outage,
        incidents.started_at,
        case when incidents.resolved_at < time_frame.cutoff_at then incidents.resolved_at end
            as resolved_at
    from incidents, time_frame
    where incidents.started_at < time_frame.cutoff_at
),

attendance_as_of as (
    select
        attendance.employee_id,
        attendance.work_date,
        attendance.scheduled_hours,
        case when attendance.check_in_at < time_frame.cutoff_at then attendance.check_in_at end
            as check_in_at
    from attendance, time_frame
    where attendance.work_date <= time_frame.as_of_date
),

-- ---------------------------------------------------------------------------------------
-- money in US dollars: the rate of the greatest rate_date on or before the date, else
-- the currency's earliest rate; USD is 1; a currency without any rate has no amount
-- ---------------------------------------------------------------------------------------

fx_earliest as (
    select currency, arg_min(usd_per_unit, rate_date) as usd_per_unit
    from fx_rates
    where currency <> 'USD'
    group by currency
),

fx_dated as (
    select * from fx_rates where currency <> 'USD'
),

order_amounts as (
    select
        order_lines.order_id,
        sum(order_lines.quantity * order_lines.unit_price - coalesce(order_lines.discount_amount, 0))
            as net_amount,
        sum(
            case
                when products.product_id is not null
                    then order_lines.quantity * order_lines.unit_price
                    - coalesce(order_lines.discount_amount, 0)
            end
        ) as known_net_amount,
        sum(order_lines.quantity * products.unit_cost) as known_cost_usd
    from order_lines
    left join products on order_lines.product_id = products.product_id
    group by order_lines.order_id
),

orders_rated as (
    select
        orders_as_of.*,
        case
            when orders_as_of.currency = 'USD' then cast(1 as decimal(18, 4))
            else coalesce(fx_dated.usd_per_unit, fx_earliest.usd_per_unit)
        end as usd_per_unit
    from orders_as_of
    asof left join fx_dated
        on orders_as_of.currency = fx_dated.currency
        and cast(orders_as_of.ordered_at as date) >= fx_dated.rate_date
    left join fx_earliest on orders_as_of.currency = fx_earliest.currency
),

-- Placed or fulfilled orders with a rate; an order without valid lines has 0 revenue.
qualifying_orders as (
    select
        orders_rated.ordered_at,
        orders_rated.region,
        orders_rated.channel,
        coalesce(order_amounts.net_amount, 0) * orders_rated.usd_per_unit as revenue_usd,
        coalesce(order_amounts.known_net_amount, 0) * orders_rated.usd_per_unit
            as known_revenue_usd,
        coalesce(order_amounts.known_cost_usd, 0) as known_cost_usd
    from orders_rated
    left join order_amounts on orders_rated.order_id = order_amounts.order_id
    where
        orders_rated.status in ('placed', 'fulfilled')
        and orders_rated.usd_per_unit is not null
),

spend_usd as (
    select
        marketing_spend_as_of.spend_date,
        marketing_spend_as_of.channel,
        marketing_spend_as_of.region,
        marketing_spend_as_of.amount * case
            when marketing_spend_as_of.currency = 'USD' then cast(1 as decimal(18, 4))
            else coalesce(fx_dated.usd_per_unit, fx_earliest.usd_per_unit)
        end as amount_usd
    from marketing_spend_as_of
    asof left join fx_dated
        on marketing_spend_as_of.currency = fx_dated.currency
        and marketing_spend_as_of.spend_date >= fx_dated.rate_date
    left join fx_earliest on marketing_spend_as_of.currency = fx_earliest.currency
),

-- ---------------------------------------------------------------------------------------
-- the flow KPIs: one row per counted record with the timestamp that places it in a
-- period, its slices (up to two dimensions; a lookup that finds nothing is 'unknown') and
-- its numerator and denominator contributions. Money is summed as exact DECIMAL, counts
-- and durations (integer microseconds) as integers; each kind is its own aggregation.
-- ---------------------------------------------------------------------------------------

money_records as (
    select
        'revenue' as kpi_id,
        ordered_at as event_at,
        'region' as dimension_1,
        region as value_1,
        'channel' as dimension_2,
        channel as value_2,
        cast(revenue_usd as decimal(38, 8)) as numerator,
        cast(null as decimal(38, 8)) as denominator
    from qualifying_orders

    union all

    select
        'average_order_value', ordered_at, 'region', region, 'channel', channel,
        revenue_usd, 1
    from qualifying_orders

    union all

    select
        'gross_margin_rate', ordered_at, 'region', region, 'channel', channel,
        known_revenue_usd - known_cost_usd, known_revenue_usd
    from qualifying_orders

    union all

    -- Spend in a currency without any rate is left out.
    select
        'cost_per_lead', cast(spend_date as timestamp), 'channel', channel, 'region', region,
        amount_usd, 0
    from spend_usd
    where amount_usd is not null

    union all

    select 'cost_per_lead', created_at, 'channel', source, 'region', region, 0, 1
    from leads_as_of
),

count_records as (
    select
        'csat_score' as kpi_id,
        resolved_at as event_at,
        'priority' as dimension_1,
        priority as value_1,
        'channel' as dimension_2,
        channel as value_2,
        cast(satisfaction_score as bigint) as numerator,
        cast(1 as bigint) as denominator
    from tickets_as_of
    where resolved_at is not null and satisfaction_score is not null

    union all

    -- Region is the shipment's order's, as of the cut-off.
    select
        'on_time_delivery_rate', shipments_as_of.delivered_at,
        'carrier', shipments_as_of.carrier,
        'region', coalesce(orders_as_of.region, 'unknown'),
        case when shipments_as_of.delivered_at <= shipments_as_of.promised_at then 1 else 0 end,
        1
    from shipments_as_of
    left join orders_as_of on shipments_as_of.order_id = orders_as_of.order_id
    where shipments_as_of.delivered_at is not null

    union all

    select
        'first_response_time_hours', created_at, 'priority', priority, 'channel', channel,
        epoch_us(first_response_at) - epoch_us(created_at), 1
    from tickets_as_of
    where first_response_at is not null

    union all

    -- Tickets whose priority has no SLA policy are left out.
    select
        'sla_compliance_rate', tickets_as_of.resolved_at,
        'priority', tickets_as_of.priority, 'channel', tickets_as_of.channel,
        case
            when epoch_us(tickets_as_of.resolved_at) - epoch_us(tickets_as_of.created_at)
                <= sla_policies.resolution_hours * 3600000000
                then 1
            else 0
        end,
        1
    from tickets_as_of
    inner join sla_policies on tickets_as_of.priority = sla_policies.priority
    where tickets_as_of.resolved_at is not null

    union all

    select
        'lead_conversion_rate', created_at, 'region', region, 'channel', source,
        case when converted_at is not null then 1 else 0 end, 1
    from leads_as_of

    union all

    -- Region and segment are the opportunity's account's, as of the cut-off.
    select
        'win_rate', opportunities_as_of.closed_at,
        'region', coalesce(accounts_as_of.region, 'unknown'),
        'segment', coalesce(accounts_as_of.segment, 'unknown'),
        case when opportunities_as_of.stage = 'closed_won' then 1 else 0 end, 1
    from opportunities_as_of
    left join accounts_as_of on opportunities_as_of.account_id = accounts_as_of.account_id
    where
        opportunities_as_of.stage in ('closed_won', 'closed_lost')
        and opportunities_as_of.closed_at is not null

    union all

    select
        'order_completion_time_days', fulfilled_at, 'region', region, 'channel', channel,
        epoch_us(fulfilled_at) - epoch_us(ordered_at), 1
    from orders_as_of
    where fulfilled_at is not null and status <> 'cancelled'

    union all

    select
        'defect_rate', ended_at, 'plant', plant, null, null, units_defective, units_produced
    from production_runs_as_of

    union all

    -- Department is the employee's.
    select
        'attendance_rate', cast(attendance_as_of.work_date as timestamp),
        'department', coalesce(employees.department, 'unknown'), null, null,
        case when attendance_as_of.check_in_at is not null then 1 else 0 end, 1
    from attendance_as_of
    left join employees on attendance_as_of.employee_id = employees.employee_id
    where attendance_as_of.scheduled_hours > 0

    union all

    -- The backlog's changes: +1 when a ticket opens, -1 when it is resolved (a level,
    -- summed over the periods below).
    select 'ticket_backlog', created_at, 'priority', priority, 'channel', channel, 1, null
    from tickets_as_of

    union all

    select 'ticket_backlog', resolved_at, 'priority', priority, 'channel', channel, -1, null
    from tickets_as_of
    where resolved_at is not null
),

-- Each record in the period of every grain that holds it, summed for the whole company
-- and per value of each of its dimensions (grouping sets); the second dimension's set of
-- a KPI with one dimension is a null dimension, left out.
money_sums as (
    select
        kpi_id,
        grain,
        period_start,
        case
            when grouping(value_1) = 0 then dimension_1
            when grouping(value_2) = 0 then dimension_2
            else 'all'
        end as dimension,
        case
            when grouping(value_1) = 0 then value_1
            when grouping(value_2) = 0 then value_2
            else 'all'
        end as dimension_value,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from (
        select
            money_records.*,
            grains.grain,
            cast(date_trunc(grains.grain, money_records.event_at) as date) as period_start
        from money_records
        cross join grains
    )
    group by grouping sets (
        (kpi_id, grain, period_start),
        (kpi_id, grain, period_start, dimension_1, value_1),
        (kpi_id, grain, period_start, dimension_2, value_2)
    )
),

count_sums as materialized (
    select
        kpi_id,
        grain,
        period_start,
        case
            when grouping(value_1) = 0 then dimension_1
            when grouping(value_2) = 0 then dimension_2
            else 'all'
        end as dimension,
        case
            when grouping(value_1) = 0 then value_1
            when grouping(value_2) = 0 then value_2
            else 'all'
        end as dimension_value,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from (
        select
            count_records.*,
            grains.grain,
            cast(date_trunc(grains.grain, count_records.event_at) as date) as period_start
        from count_records
        cross join grains
    )
    group by grouping sets (
        (kpi_id, grain, period_start),
        (kpi_id, grain, period_start, dimension_1, value_1),
        (kpi_id, grain, period_start, dimension_2, value_2)
    )
),

-- Sums exact, then to double; durations converted from microseconds once.
flows as (
    select
        kpi_id,
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(numerator as double) as numerator,
        cast(denominator as double) as denominator
    from money_sums
    where dimension is not null

    union all

    select
        kpi_id,
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(numerator as double) / case kpi_id
            when 'first_response_time_hours' then 3600000000
            when 'order_completion_time_days' then 86400000000
            else 1
        end as numerator,
        cast(denominator as double) as denominator
    from count_sums
    where dimension is not null and kpi_id <> 'ticket_backlog'
),

-- ---------------------------------------------------------------------------------------
-- the level KPIs: running sums over every period of a grain, per slice
-- ---------------------------------------------------------------------------------------

-- Tickets opened before the period's end less those resolved before it.
ticket_backlog as (
    select
        'ticket_backlog' as kpi_id,
        periods.grain,
        periods.period_start,
        slices.dimension,
        slices.dimension_value,
        cast(
            sum(coalesce(changes.numerator, 0)) over (
                partition by periods.grain, slices.dimension, slices.dimension_value
                order by periods.period_start
            )
            as double
        ) as numerator,
        cast(null as double) as denominator
    from periods
    cross join (
        select distinct dimension, dimension_value
        from count_sums
        where kpi_id = 'ticket_backlog' and dimension is not null
    ) as slices
    left join count_sums as changes
        on changes.kpi_id = 'ticket_backlog'
        and periods.grain = changes.grain
        and periods.period_start = changes.period_start
        and slices.dimension = changes.dimension
        and slices.dimension_value = changes.dimension_value
),

-- Per period and slice: accounts opened, churned, and churned in the period having been
-- created before its start (`lost`, the ones the period's denominator holds).
account_changes as materialized (
    select
        grain,
        period_start,
        case
            when grouping(region) = 0 then 'region'
            when grouping(segment) = 0 then 'segment'
            else 'all'
        end as dimension,
        case
            when grouping(region) = 0 then region
            when grouping(segment) = 0 then segment
            else 'all'
        end as dimension_value,
        sum(opened) as opened,
        sum(churned) as churned,
        sum(lost) as lost
    from (
        select
            grains.grain,
            cast(date_trunc(grains.grain, accounts_as_of.created_at) as date) as period_start,
            accounts_as_of.region,
            accounts_as_of.segment,
            1 as opened,
            0 as churned,
            0 as lost
        from accounts_as_of
        cross join grains

        union all

        select
            grains.grain,
            cast(date_trunc(grains.grain, accounts_as_of.churned_at) as date),
            accounts_as_of.region,
            accounts_as_of.segment,
            0,
            1,
            case
                when date_trunc(grains.grain, accounts_as_of.created_at)
                    < date_trunc(grains.grain, accounts_as_of.churned_at)
                    then 1
                else 0
            end
        from accounts_as_of
        cross join grains
        where accounts_as_of.churned_at is not null
    )
    group by grouping sets (
        (grain, period_start), (grain, period_start, region), (grain, period_start, segment)
    )
),

-- Of the accounts active at the period's start (opened less churned before it), those
-- still not churned at its end.
customer_retention_rate as (
    select
        'customer_retention_rate' as kpi_id,
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(active - lost as double) as numerator,
        cast(active as double) as denominator
    from (
        select
            periods.grain,
            periods.period_start,
            slices.dimension,
            slices.dimension_value,
            coalesce(
                sum(coalesce(changes.opened, 0) - coalesce(changes.churned, 0)) over (
                    partition by periods.grain, slices.dimension, slices.dimension_value
                    order by periods.period_start
                    rows between unbounded preceding and 1 preceding
                ),
                0
            ) as active,
            coalesce(changes.lost, 0) as lost
        from periods
        cross join (select distinct dimension, dimension_value from account_changes) as slices
        left join account_changes as changes
            on periods.grain = changes.grain
            and periods.period_start = changes.period_start
            and slices.dimension = changes.dimension
            and slices.dimension_value = changes.dimension_value
    )
),

-- Outages of catalog services, [started_at, resolved_at or the cut-off), merged per
-- service into islands so that overlapping outages count once.
outages as (
    select
        incidents_as_of.service_id,
        incidents_as_of.started_at,
        coalesce(incidents_as_of.resolved_at, time_frame.cutoff_at) as ended_at
    from incidents_as_of
    inner join services on incidents_as_of.service_id = services.service_id
    cross join time_frame
    where incidents_as_of.is_outage
),

outage_islands as (
    select
        service_id,
        started_at,
        ended_at,
        sum(case when covered_until is null or started_at > covered_until then 1 else 0 end)
            over (partition by service_id order by started_at, ended_at) as island
    from (
        select
            *,
            max(ended_at) over (
                partition by service_id
                order by started_at, ended_at
                rows between unbounded preceding and 1 preceding
            ) as covered_until
        from outages
    )
),

downtime as (
    select
        periods.grain,
        periods.period_start,
        merged.service_id,
        sum(
            epoch_us(least(merged.ended_at, periods.end_at))
            - epoch_us(greatest(merged.started_at, periods.start_at))
        ) as downtime_us
    from (
        select service_id, min(started_at) as started_at, max(ended_at) as ended_at
        from outage_islands
        group by service_id, island
    ) as merged
    inner join periods
        on merged.started_at < periods.end_at and merged.ended_at > periods.start_at
    group by periods.grain, periods.period_start, merged.service_id
),

-- Seconds up per catalog service and period; the whole company sums the services.
service_uptime as materialized (
    select
        periods.grain,
        periods.period_start,
        services.service_id,
        periods.length_us,
        periods.length_us - coalesce(downtime.downtime_us, 0) as up_us
    from periods
    cross join services
    left join downtime
        on periods.grain = downtime.grain
        and periods.period_start = downtime.period_start
        and services.service_id = downtime.service_id
),

service_availability as (
    select
        'service_availability' as kpi_id,
        grain,
        period_start,
        'all' as dimension,
        'all' as dimension_value,
        cast(sum(up_us) as double) / 1000000 as numerator,
        cast(sum(length_us) as double) / 1000000 as denominator
    from service_uptime
    group by grain, period_start

    union all

    select
        'service_availability',
        grain,
        period_start,
        'service',
        service_id,
        cast(up_us as double) / 1000000,
        cast(length_us as double) / 1000000
    from service_uptime
),

results as (
    select * from flows
    union all select * from ticket_backlog
    union all select * from customer_retention_rate
    union all select * from service_availability
),

-- Sums and counts have no denominator and read 0 over no records; a ratio over no
-- records is 0 / 0 with no value.
kpi_catalog as (
    select *
    from (
        values
            ('revenue', false), ('average_order_value', true), ('gross_margin_rate', true),
            ('cost_per_lead', true), ('customer_retention_rate', true), ('csat_score', true),
            ('on_time_delivery_rate', true), ('first_response_time_hours', true),
            ('sla_compliance_rate', true), ('lead_conversion_rate', true), ('win_rate', true),
            ('ticket_backlog', false), ('order_completion_time_days', true),
            ('defect_rate', true), ('service_availability', true), ('attendance_rate', true)
    ) as kpis (kpi_id, is_ratio)
),

-- Every KPI's slices: the whole company, and each dimension value any record has.
slices as (
    select kpi_id, 'all' as dimension, 'all' as dimension_value from kpi_catalog
    union all
    select distinct kpi_id, dimension, dimension_value from results where dimension <> 'all'
),

-- A row for every slice in every period of every grain.
filled as (
    select
        slices.kpi_id,
        periods.grain,
        periods.period_start,
        slices.dimension,
        slices.dimension_value,
        coalesce(results.numerator, 0) as numerator,
        case when kpi_catalog.is_ratio then coalesce(results.denominator, 0) end as denominator
    from slices
    inner join kpi_catalog on slices.kpi_id = kpi_catalog.kpi_id
    cross join periods
    left join results
        on slices.kpi_id = results.kpi_id
        and periods.grain = results.grain
        and periods.period_start = results.period_start
        and slices.dimension = results.dimension
        and slices.dimension_value = results.dimension_value
)

select
    kpi_id,
    grain,
    period_start,
    dimension,
    dimension_value,
    numerator,
    denominator,
    case
        when denominator is null then numerator
        when denominator = 0 then null
        else numerator / denominator
    end as value
from filled
order by kpi_id, grain, period_start, dimension, dimension_value;
